"""The streamed XLSX workbook: what openpyxl and LibreOffice read back, the sheets, the
zip (no ZIP64 record in a file that does not need one), and the stream itself."""

from __future__ import annotations

import csv
import datetime
import decimal
import inspect
import io
import re
import struct
import tracemalloc
import uuid
import xml.etree.ElementTree as ET
import zipfile
import zoneinfo
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import stream_zip
from openpyxl.utils.escape import unescape

from stream_exports.core.workbook import (
    MAX_SHEET_BYTES,
    MAX_TEXT,
    CellKind,
    Column,
    workbook_chunks,
)

from ..spreadsheets import CSV_FILTER, convert, count_rows, needs_libreoffice

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
UTC = datetime.UTC
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"

K = CellKind
LONG = "é" * 30_000 + "🦆" * 5_000  # 35,000 characters, 40,000 UTF-16 units
D = decimal.Decimal

#: (kind, value, what openpyxl reads): a cell each, across the kinds and their edges.
CASES: list[tuple[CellKind, Any, Any]] = [
    (K.INTEGER, 7, 7),
    (K.INTEGER, -(10**15) + 1, -(10**15) + 1),
    (K.INTEGER, 2**53 + 1, "9007199254740993"),  # 16 digits: exact text
    (K.INTEGER, 10**20, 10**20),  # 1 significant digit: a number
    (K.DECIMAL, D("12.50"), 12.5),
    (K.DECIMAL, D("-0.01"), -0.01),
    (K.DECIMAL, D("1234567890123456.78"), "1234567890123456.78"),
    (K.DECIMAL, D("1E+30"), 1e30),
    (K.DECIMAL, D("NaN"), "NaN"),
    (K.DECIMAL, 3, 3),  # a numeric column takes any number
    (K.FLOAT, 0.1 + 0.2, 0.1 + 0.2),
    (K.FLOAT, float("nan"), "NaN"),
    (K.FLOAT, float("-inf"), "-Infinity"),
    (K.FLOAT, 5e-324, "5e-324"),  # below Excel's range
    (K.BOOLEAN, True, True),
    (K.BOOLEAN, False, False),
    (K.BOOLEAN, 1, "1"),  # not a bool: its text
    (
        K.DATETIME,
        datetime.datetime(2024, 7, 1, 10, 4, 5, 123_456, tzinfo=UTC),
        datetime.datetime(2024, 7, 1, 12, 4, 5, 123_000),  # Paris (summer); openpyxl: ms
    ),
    (
        K.DATETIME,
        datetime.datetime(
            2024, 1, 1, 23, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
        ),
        datetime.datetime(2024, 1, 2, 5, 30),
    ),
    (K.DATETIME, datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.datetime(2024, 1, 2, 3, 4, 5)),
    (
        K.DATETIME,
        datetime.datetime(2024, 3, 31, 3, 30, tzinfo=PARIS),  # already in tz (summer time)
        datetime.datetime(2024, 3, 31, 3, 30),
    ),
    (K.DATETIME, datetime.datetime(1900, 3, 1), datetime.datetime(1900, 3, 1)),
    (K.DATETIME, datetime.datetime(1900, 2, 28, 12), "1900-02-28T12:00:00"),
    (K.DATETIME, datetime.datetime(1850, 1, 1, tzinfo=UTC), "1850-01-01T00:09:21"),  # LMT
    (K.DATETIME, datetime.date(2024, 1, 2), "2024-01-02"),
    (K.DATE, datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29)),
    (K.DATE, datetime.date(1900, 1, 1), "1900-01-01"),
    (K.DATE, datetime.date(1899, 12, 31), "1899-12-31"),
    (K.DATE, datetime.datetime(2024, 2, 29, 1), "2024-02-29T01:00:00"),
    (K.TIME, datetime.time(12, 30, 15), datetime.time(12, 30, 15)),
    (K.TIME, datetime.time(1, 2, tzinfo=UTC), "01:02:00+00:00"),
    (K.DURATION, datetime.timedelta(days=2, hours=3), datetime.timedelta(days=2, hours=3)),
    (K.DURATION, -datetime.timedelta(minutes=90), "-1:30:00"),
    (K.TEXT, "plain", "plain"),
    (K.TEXT, "", ""),  # an empty text, not a null
    (K.TEXT, '=HYPERLINK("http://example.com","x")', '=HYPERLINK("http://example.com","x")'),
    (K.TEXT, "+1 & <b> 'q' \"d\"", "+1 & <b> 'q' \"d\""),
    (K.TEXT, " lead and trail \n", " lead and trail \n"),
    (K.TEXT, "tab\there\nCR\rCRLF\r\n", "tab\there\nCR\rCRLF\r\n"),
    (K.TEXT, "øé 张 🦆", "øé 张 🦆"),
    (K.TEXT, uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    (K.TEXT, 5, "5"),
    (K.JSON, '{"a": [1, "x"], "b": null}', '{"a": [1, "x"], "b": null}'),
]

#: Texts openpyxl reads escaped (``_xHHHH_``): ``unescape`` gives them back whole.
ESCAPED = [
    "nul\x00 soh\x01 us\x1f vt\x0b ff\x0c",
    "non-characters \ufffe\uffff",
    "lone \ud800 surrogate",
    "literal _x0041_ and _x00e9_",
]


def xlsx(
    columns: Sequence[Column], rows: Sequence[Sequence[Any]], batch: int = 1000, **options: Any
) -> bytes:
    batches = [rows[at : at + batch] for at in range(0, len(rows), batch)]
    options.setdefault("tz", PARIS)
    return b"".join(workbook_chunks(columns, batches, **options))


def book(data: bytes, **options: Any) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data), **options)


def values(data: bytes) -> list[list[tuple[Any, ...]]]:
    """Each sheet's rows' values, as openpyxl reads them."""
    return [list(sheet.iter_rows(values_only=True)) for sheet in book(data)]


# openpyxl


@pytest.mark.parametrize("shape", ["alone", "with a null", "with an odd type"])
def test_openpyxl_reads_every_kind_back(shape):
    """A cell per case; the same whichever way its batch is written (at once, with nulls,
    or a value at a time because a value's type is not its column's)."""
    columns = [Column(f"c{index}", kind) for index, (kind, _, _) in enumerate(CASES)]
    rows: list[tuple[Any, ...]] = [tuple(value for _, value, _ in CASES)]
    if shape == "with a null":
        rows.append((None,) * len(CASES))
    elif shape == "with an odd type":
        rows.append((object(),) * len(CASES))
    (sheet,) = values(xlsx(columns, rows))
    assert sheet[1] == tuple(expected for _, _, expected in CASES)
    if shape == "with a null":
        assert sheet[2] == (None,) * len(CASES)
    elif shape == "with an odd type":
        assert all(str(value).startswith("<object object") for value in sheet[2])


def generated(kind: CellKind, count: int) -> list[Any]:
    """``count`` values of a kind that the batch way takes (DST changes, XML's specials)."""
    step = datetime.timedelta(minutes=61, microseconds=123_457)
    start = datetime.datetime(2024, 3, 30, tzinfo=UTC)
    return {
        K.INTEGER: [n * 7_919 * (-1) ** n for n in range(count)],
        K.DECIMAL: [D(n * 7_919).scaleb(-3) for n in range(count)],
        K.FLOAT: [n / 7 for n in range(count)],
        K.BOOLEAN: [n % 3 == 0 for n in range(count)],
        K.DATE: [datetime.date(1900, 3, 1) + n * 17 * step for n in range(count)],
        K.DATETIME: [start + n * step for n in range(count)],
        K.TIME: [(start + n * step).time() for n in range(count)],
        K.DURATION: [n * step for n in range(count)],
        K.TEXT: [f"{n} & <{n}> _x{n:04X}_ \x01{n}\r" for n in range(count)],
        K.JSON: [f'{{"n": {n}, "s": "ø {n}"}}' for n in range(count)],
    }[kind]


@pytest.mark.parametrize("kind", list(CellKind))
@pytest.mark.parametrize("zone", [PARIS, UTC], ids=["Paris", "UTC"])
def test_a_batch_at_once_and_a_value_at_a_time_write_the_same_cells(kind, zone):
    """The C-level way (a batch's values at once, with nulls or without) and the careful
    way (a value at a time, as when a value's type is not its column's) agree."""
    cells = generated(kind, 300)
    naive = [value.replace(tzinfo=None) if kind is K.DATETIME else value for value in cells]
    for column in (cells, naive):
        ways = [column, [*column, None], [*column, object()]]
        sheets = [
            zipfile.ZipFile(io.BytesIO(xlsx([Column("c", kind)], [(v,) for v in way], tz=zone)))
            .read("xl/worksheets/sheet1.xml")
            .decode()
            for way in ways
        ]
        rows = [re.findall(r"<row .*?</row>", sheet)[1:301] for sheet in sheets]
        assert rows[0] == rows[1] == rows[2]


def test_texts_xml_forbids_are_escaped_and_read_back():
    columns = [Column("text", K.TEXT)]
    data = xlsx(columns, [(text,) for text in ESCAPED])
    (sheet,) = values(data)
    assert [unescape(value) for (value,) in sheet[1:]] == ESCAPED
    assert sheet[4] == ("literal _x005F_x0041_ and _x005F_x00e9_",)


def test_a_text_too_long_for_a_cell_is_cut_with_a_visible_marker():
    (sheet,) = values(xlsx([Column("note", K.TEXT)], [(LONG,), ("short",)]))
    cut = sheet[1][0]
    assert len(cut.encode("utf-16-le")) // 2 <= MAX_TEXT
    assert cut.startswith("é" * 30_000 + "🦆")
    assert "35,000 characters" in cut and "CSV and NDJSON" in cut
    assert sheet[2] == ("short",)


def test_numbers_are_numbers_and_sum():
    amounts = [D(cents).scaleb(-2) for cents in range(1, 2001)]
    rows = [(index, amount) for index, amount in enumerate(amounts)]
    (sheet,) = values(xlsx([Column("id", K.INTEGER), Column("amount", K.DECIMAL)], rows))
    assert sum(amount for _, amount in sheet[1:]) == pytest.approx(float(sum(amounts)))
    assert [row[0] for row in sheet[1:]] == list(range(2000))


def test_datetimes_keep_their_microseconds_in_the_serial():
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, 678_901)
    data = xlsx([Column("at", K.DATETIME)], [(moment,)])
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    (serial,) = re.findall(r"<v>([\d.]+)</v>", xml)
    back = datetime.datetime(1899, 12, 30) + datetime.timedelta(days=float(serial))
    assert abs(back - moment) < datetime.timedelta(microseconds=1)


def test_extra_trailing_values_are_ignored_and_short_rows_refused():
    columns = [Column("a", K.INTEGER), Column("b", K.TEXT)]
    (sheet,) = values(xlsx(columns, [(1, "x", "cursor", 99)]))
    assert sheet == [("a", "b"), (1, "x")]
    with pytest.raises(ValueError, match="fewer values"):
        xlsx(columns, [(1,)])


# The sheet


def test_a_bold_frozen_header_an_autofilter_and_widths():
    columns = [
        Column("Id", K.INTEGER),
        Column("Created at", K.DATETIME),
        Column("A rather long header for a column", K.TEXT),
        Column("Note", K.TEXT, width=50),
        Column("Amount", K.DECIMAL, number_format="#,##0.00"),
    ]
    rows = [(n, datetime.datetime(2024, 1, 1), "x", "y", D("1234.5")) for n in range(3)]
    data = xlsx(columns, rows, sheet_title="Orders")
    sheet = book(data)["Orders"]
    assert [cell.font.b for cell in sheet[1]] == [True] * 5
    assert [cell.font.b for cell in sheet[2]] == [False] * 5
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E4"
    widths = [sheet.column_dimensions[letter].width for letter in "ABCDE"]
    assert widths[0] >= len("Id") and widths[1] >= len("2024-01-01 00:00:00")
    assert widths[2] > len("A rather long header for a column") and widths[3] == 50
    assert sheet["B2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet["E2"].number_format == "#,##0.00" and sheet["E2"].value == 1234.5
    workbook = ET.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("xl/workbook.xml"))
    (name,) = workbook.iter(f"{MAIN}definedName")
    assert name.attrib == {"name": "_xlnm._FilterDatabase", "localSheetId": "0", "hidden": "1"}
    assert name.text == "'Orders'!$A$1:$E$4"


def test_rows_past_max_rows_go_on_in_sheets_with_the_header_again():
    columns = [Column("id", K.INTEGER), Column("name", K.TEXT)]
    rows = [(n, f"row {n}") for n in range(10)]
    data = xlsx(columns, rows, batch=3, max_rows=5, sheet_title="Orders")
    workbook = book(data)
    assert workbook.sheetnames == ["Orders", "Orders (2)", "Orders (3)"]
    sheets = values(data)
    assert [len(sheet) for sheet in sheets] == [5, 5, 3]
    assert all(sheet[0] == ("id", "name") for sheet in sheets)
    assert [row for sheet in sheets for row in sheet[1:]] == rows
    assert [sheet.auto_filter.ref for sheet in workbook] == ["A1:B5", "A1:B5", "A1:B3"]
    names = ET.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("xl/workbook.xml"))
    refs = [(n.get("localSheetId"), n.text) for n in names.iter(f"{MAIN}definedName")]
    assert refs == [
        ("0", "'Orders'!$A$1:$B$5"),
        ("1", "'Orders (2)'!$A$1:$B$5"),
        ("2", "'Orders (3)'!$A$1:$B$3"),
    ]


def test_rows_that_end_on_a_sheet_boundary_make_no_empty_sheet():
    data = xlsx([Column("id", K.INTEGER)], [(n,) for n in range(8)], batch=4, max_rows=5)
    assert [len(sheet) for sheet in values(data)] == [5, 5]


def test_what_cannot_be_a_workbook_is_refused_at_once():
    with pytest.raises(ValueError, match="column"):
        workbook_chunks([], [], tz=UTC)
    with pytest.raises(ValueError, match="max_rows"):
        workbook_chunks(COLUMNS, [], tz=UTC, max_rows=1)


def test_no_rows_is_a_sheet_with_its_header():
    (sheet,) = values(xlsx([Column("id", K.INTEGER)], []))
    assert sheet == [("id",)]


def test_sheet_names_are_valid_unique_and_short():
    title = "Q1/Q2: [orders]*? \\ a title longer than thirty-one"
    data = xlsx([Column("id", K.INTEGER)], [(n,) for n in range(12)], max_rows=2, sheet_title=title)
    names = book(data).sheetnames
    assert len(names) == 12 and len({name.casefold() for name in names}) == 12
    assert all(len(name) <= 31 and not re.search(r"[\[\]:*?/\\]", name) for name in names)
    assert names[0] == "Q1_Q2_ _orders___ _ a title lon" and names[11].endswith(" (12)")
    assert book(xlsx([Column("id", K.INTEGER)], [], sheet_title="History")).sheetnames == [
        "History_"
    ]


def test_a_sheet_ends_before_its_xml_passes_max_sheet_bytes():
    rows = [(n, "x" * 100) for n in range(300)]
    columns = [Column("id", K.INTEGER), Column("text", K.TEXT)]
    data = xlsx(columns, rows, batch=128, max_sheet_bytes=10_000)
    archive = zipfile.ZipFile(io.BytesIO(data))
    sizes = [info.file_size for info in archive.infolist() if "worksheets" in info.filename]
    assert len(sizes) > 3 and max(sizes) <= 10_000
    assert [row for sheet in values(data) for row in sheet[1:]] == rows


def test_a_million_rows_and_more_go_on_a_second_sheet():
    """1,100,000 rows: Excel's 1,048,576 rows a sheet (the header included), then the rest."""
    total = 1_100_000
    batches = ([(n,) for n in range(at, min(at + 10_000, total))] for at in range(0, total, 10_000))
    data = b"".join(workbook_chunks([Column("id", K.INTEGER)], batches, tz=UTC))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist().count("xl/worksheets/sheet2.xml") == 1
    counts = [count_rows(archive, f"xl/worksheets/sheet{n}.xml") for n in (1, 2)]
    assert counts == [1_048_576, total - 1_048_575 + 1]


# The stream


def source(rows: int, batch: int, seen: dict[str, Any]) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of rows, counting them in ``seen`` (and saying when it was closed)."""
    seen.update(batches=0, closed=False)
    return _source(rows, batch, seen)


def _source(rows: int, batch: int, seen: dict[str, Any]) -> Iterator[list[tuple[Any, ...]]]:
    try:
        for at in range(0, rows, batch):
            seen["batches"] += 1
            yield [(n, f"text {n}", D(n).scaleb(-2)) for n in range(at, min(at + batch, rows))]
    finally:
        seen["closed"] = True


COLUMNS = [Column("id", K.INTEGER), Column("text", K.TEXT), Column("amount", K.DECIMAL)]


def test_bytes_come_out_before_the_rows_are_all_read():
    seen: dict[str, Any] = {}
    chunks = workbook_chunks(COLUMNS, source(20_000, 1000, seen), tz=UTC)
    out = [next(chunks)]
    assert out[0].startswith(b"PK\x03\x04") and seen["batches"] <= 1
    while seen["batches"] < 5:
        out.append(next(chunks))
    assert seen["batches"] < 10  # a chunk every batch or so, not all at the end
    out += chunks
    assert seen == {"batches": 20, "closed": True}
    (sheet,) = values(b"".join(out))
    assert len(sheet) == 20_001 and sheet[-1] == (19_999, "text 19999", 199.99)


def test_closing_the_generator_closes_the_source():
    seen: dict[str, Any] = {}
    chunks = workbook_chunks(COLUMNS, source(100_000, 1000, seen), tz=UTC)
    while seen["batches"] < 3:
        next(chunks)
    chunks.close()
    assert seen["closed"] and seen["batches"] < 10


def test_closing_before_a_row_is_read_closes_the_source_too():
    rows = source(100, 10, {})
    chunks = workbook_chunks(COLUMNS, rows, tz=UTC)
    next(chunks)  # the parts before the rows
    chunks.close()
    assert inspect.getgeneratorstate(rows) == inspect.GEN_CLOSED  # type: ignore[arg-type]


def test_memory_stays_flat_however_many_rows():
    def peak(rows: int) -> int:
        tracemalloc.start()
        for _ in workbook_chunks(COLUMNS, source(rows, 1000, {}), tz=UTC):
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(5_000), peak(60_000)
    assert large < small * 1.5 + 1_000_000


# The zip


def test_a_small_file_has_no_zip64_record_and_opens():
    data = xlsx(COLUMNS, [(n, "x", D(n)) for n in range(5000)])
    assert zip64_records(data) == []
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert archive.namelist() == [
        "_rels/.rels",
        "xl/styles.xml",
        "xl/worksheets/sheet1.xml",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "[Content_Types].xml",
    ]
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())


def test_members_are_32_bit_unless_they_start_past_4_gib(monkeypatch):
    """The rule as stream-zip is told it: ``ZIP_AUTO`` with each member's size (a sheet's:
    its bound), all under the size up to which ZIP_AUTO writes 32 bits."""
    told = []
    real = stream_zip.ZIP_AUTO

    def auto(size: int, level: int) -> Any:
        told.append((size, level))
        return real(size, level)

    monkeypatch.setattr(stream_zip, "ZIP_AUTO", auto)  # (the writer imports it when it writes)
    data = xlsx(COLUMNS, [(1, "x", D(1))], max_rows=2, level=3)
    sizes = [info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    assert told == [
        (sizes[0], 3),
        (sizes[1], 3),
        (MAX_SHEET_BYTES, 3),
        *[(s, 3) for s in sizes[3:]],
    ]
    assert MAX_SHEET_BYTES < 4_293_656_841  # stream-zip's ZIP_AUTO: 32-bit below it


def zip64_records(data: bytes) -> list[str]:
    """Every ZIP64 record in a zip: the end records, version 45 or a ZIP64 extra field
    (id 1) in a central directory entry or local header, a 64-bit data descriptor."""
    found = []
    end = len(data) - 22
    assert data[end : end + 4] == b"PK\x05\x06"  # no archive comment
    if data[end - 20 : end - 16] == b"PK\x06\x07":
        found.append("ZIP64 end locator")
    entries, size, start = struct.unpack("<HII", data[end + 10 : end + 20])
    if b"PK\x06\x06" in data[start:end] or 0xFFFFFFFF in (size, start):
        found.append("ZIP64 end record")
    at = start
    for _ in range(entries):
        assert data[at : at + 4] == b"PK\x01\x02"
        _, needed = struct.unpack("<HH", data[at + 4 : at + 8])
        packed, plain = struct.unpack("<II", data[at + 20 : at + 28])
        name, extra, comment = struct.unpack("<HHH", data[at + 28 : at + 34])
        (offset,) = struct.unpack("<I", data[at + 42 : at + 46])
        if needed >= 45 or 0xFFFFFFFF in (packed, plain, offset):
            found.append("central directory entry")
        if extra_ids(data[at + 46 + name : at + 46 + name + extra]) & {1}:
            found.append("central directory extra")
        assert data[offset : offset + 4] == b"PK\x03\x04"
        (local_needed,) = struct.unpack("<H", data[offset + 4 : offset + 6])
        local_name, local_extra = struct.unpack("<HH", data[offset + 26 : offset + 30])
        if local_needed >= 45 or extra_ids(
            data[offset + 30 + local_name : offset + 30 + local_name + local_extra]
        ) & {1}:
            found.append("local header")
        descriptor = offset + 30 + local_name + local_extra + packed
        assert data[descriptor : descriptor + 4] == b"PK\x07\x08"
        if data[descriptor + 16 : descriptor + 18] != b"PK":  # 32-bit sizes: 16 bytes
            found.append("64-bit data descriptor")
        at += 46 + name + extra + comment
    return found


def extra_ids(extra: bytes) -> set[int]:
    ids, at = set(), 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack("<HH", extra[at : at + 4])
        ids.add(kind)
        at += 4 + size
    return ids


# LibreOffice


LIBREOFFICE_COLUMNS = [
    Column("Id", K.INTEGER),
    Column("Amount", K.DECIMAL),
    Column("Created at", K.DATETIME),
    Column("Day", K.DATE),
    Column("Paid", K.BOOLEAN),
    Column("Note", K.TEXT),
    Column("Data", K.JSON),
]
LIBREOFFICE_ROWS = [
    (
        1,
        D("12.50"),
        datetime.datetime(2024, 7, 1, 10, 4, 5, tzinfo=UTC),
        datetime.date(2024, 2, 29),
        True,
        '=HYPERLINK("http://example.com")',
        '{"a": 1}',
    ),
    (2, D("0.75"), datetime.datetime(2024, 1, 1), datetime.date(1900, 3, 1), False, None, None),
    (3, D("1234567890123456.78"), None, datetime.date(1899, 12, 31), None, "ctrl\x01 _x0041_", "x"),
    (4, D("-3"), datetime.datetime(1850, 1, 1), None, False, "øé 张 🦆\r\nline", "{}"),
    (5, None, None, None, None, LONG, None),
    (6, float("nan"), None, None, None, " lead", None),
]


def libreoffice(data: bytes, tmp_path: Path, target: str) -> Path:
    """``data`` as LibreOffice converts it to ``target`` (csv or xlsx)."""
    source = tmp_path / "book.xlsx"
    source.write_bytes(data)
    return convert(source, CSV_FILTER if target == "csv" else target)


@needs_libreoffice
def test_libreoffice_reads_the_same_cells(tmp_path: Path):
    data = xlsx(LIBREOFFICE_COLUMNS, LIBREOFFICE_ROWS, tz=UTC)
    path = libreoffice(data, tmp_path, "csv")
    shown = list(csv.reader(path.open(encoding="utf-8", newline="")))
    assert shown[0] == [column.header for column in LIBREOFFICE_COLUMNS]
    assert shown[1] == [
        "1",
        "12.5",
        "2024-07-01 10:04:05",
        "2024-02-29",
        "TRUE",
        '=HYPERLINK("http://example.com")',
        '{"a": 1}',
    ]
    assert shown[2] == ["2", "0.75", "2024-01-01 00:00:00", "1900-03-01", "FALSE", "", ""]
    # Text for what a number or a date cannot hold; a forbidden character decoded.
    assert shown[3] == ["3", "1234567890123456.78", "", "1899-12-31", "", "ctrl\x01 _x0041_", "x"]
    # (a spreadsheet keeps a line break as LF: CRLF reads as LF)
    assert shown[4] == ["4", "-3", "1850-01-01T00:00:00", "", "FALSE", "øé 张 🦆\nline", "{}"]
    assert shown[5][5].startswith("é" * 30_000) and "35,000 characters" in shown[5][5]
    assert shown[6][1:2] == ["NaN"] and shown[6][5] == " lead"


@needs_libreoffice
def test_libreoffice_holds_numbers_dates_and_booleans_as_such(tmp_path: Path):
    """LibreOffice's own xlsx of the file: amounts are numbers (they sum), dates are
    numbers shown as dates, booleans booleans, a formula-like text a text."""
    data = xlsx(LIBREOFFICE_COLUMNS, LIBREOFFICE_ROWS, tz=UTC)
    sheet = book(libreoffice(data, tmp_path, "xlsx").read_bytes(), data_only=True).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert sum(row[1] for row in rows[:2] + rows[3:4]) == pytest.approx(12.5 + 0.75 - 3)
    assert rows[0][2] == datetime.datetime(2024, 7, 1, 10, 4, 5)
    assert rows[1][3] - rows[0][3] == datetime.date(1900, 3, 1) - datetime.date(2024, 2, 29)
    assert [row[4] for row in rows[:4]] == [True, False, None, False]
    assert sheet["F2"].data_type == "s" and sheet["F2"].value == '=HYPERLINK("http://example.com")'
    assert rows[2][1] == "1234567890123456.78"
