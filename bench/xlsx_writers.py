"""XLSX writers in-process, the writer alone: the streamed workbook of
``stream_exports.core.workbook`` beside xlsxwriter (``constant_memory``) and openpyxl
(``write_only``), on the same demo rows (``project.demo.seed``: the ``orders`` table's
values as Django gives them, the JSON field as its text)::

    python -m bench.xlsx_writers --rows 1000000
    python -m bench.xlsx_writers --rows 200000 --only ours,xlsxwriter
    python -m bench.xlsx_writers --zip-libraries --mb 150   # zip libraries on sheet XML

Each contender runs in a process of its own, so its peak RSS is its own; ``source`` is
the rows alone (a pool of 20,000 demo rows, cycled, read in batches of 2,000). Files go
to a temporary directory. ``--zip-libraries`` zips the same sheet XML (made by the
workbook writer) with stream-zip, zipstream-ng and the standard library's ``zipfile``
on an unseekable stream, at deflate levels 1 and 6, and says which wrote ZIP64 records.
"""

from __future__ import annotations

import argparse
import datetime
import io
import itertools
import json
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

POOL = 20_000
BATCH = 2_000
TZ = datetime.UTC
WRITERS = ("source", "ours", "ours-level6", "xlsxwriter", "openpyxl")
ZIPPERS = ("zlib", "stream-zip", "zipstream-ng", "zipfile")


def demo_pool() -> list[tuple[Any, ...]]:
    """POOL demo orders, their JSON field as text (as a JSON column's text arrives)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from project.demo.seed import order_rows

    return [(*row[:-1], json.dumps(row[-1])) for row in order_rows(POOL, seed=1)]


def batches(pool: list[tuple[Any, ...]], rows: int) -> Iterator[list[tuple[Any, ...]]]:
    """``rows`` rows of the pool, cycled, in batches."""
    for start in range(0, rows, BATCH):
        at = start % len(pool)
        yield pool[at : at + min(BATCH, rows - start)]


def columns() -> list[Any]:
    from stream_exports.core.workbook import CellKind, Column

    kinds = [
        ("Id", CellKind.INTEGER),
        ("Customer", CellKind.TEXT),
        ("Email", CellKind.TEXT),
        ("Amount", CellKind.DECIMAL),
        ("Quantity", CellKind.INTEGER),
        ("Created at", CellKind.DATETIME),
        ("Paid", CellKind.BOOLEAN),
        ("Note", CellKind.TEXT),
        ("Data", CellKind.JSON),
    ]
    return [Column(header, kind) for header, kind in kinds]


def write_ours(path: Path, rows: Iterator[list[tuple[Any, ...]]], level: int) -> None:
    from stream_exports.core.workbook import workbook_chunks

    with path.open("wb") as out:
        for chunk in workbook_chunks(columns(), rows, tz=TZ, sheet_title="Orders", level=level):
            out.write(chunk)


def _naive(row: tuple[Any, ...]) -> list[Any]:
    """A row as the file writers take it: datetimes naive, in TZ."""
    values = list(row)
    values[5] = values[5].astimezone(TZ).replace(tzinfo=None)
    return values


def write_xlsxwriter(path: Path, rows: Iterator[list[tuple[Any, ...]]]) -> None:
    import xlsxwriter

    options = {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "default_date_format": "yyyy-mm-dd hh:mm:ss",
    }
    book = xlsxwriter.Workbook(str(path), options)
    sheet = book.add_worksheet("Orders")
    bold = book.add_format({"bold": True})
    names = [column.header for column in columns()]
    sheet.write_row(0, 0, names, bold)
    sheet.freeze_panes(1, 0)
    number = 1
    for batch in rows:
        for row in batch:
            sheet.write_row(number, 0, _naive(row))
            number += 1
    sheet.autofilter(0, 0, number - 1, len(names) - 1)
    book.close()


def write_openpyxl(path: Path, rows: Iterator[list[tuple[Any, ...]]]) -> None:
    """(openpyxl refuses the characters XML forbids: they are taken out of the note.)"""
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Orders")
    sheet.freeze_panes = "A2"
    sheet.append([column.header for column in columns()])
    for batch in rows:
        for row in batch:
            values = _naive(row)
            if values[7]:
                values[7] = ILLEGAL_CHARACTERS_RE.sub("", values[7])
            sheet.append(values)
    book.save(str(path))


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_writer(name: str, rows: int) -> dict[str, Any]:
    """One contender, in this process: wall seconds, peak RSS, the file's size."""
    pool = demo_pool()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.xlsx"
        started, cpu = time.perf_counter(), time.process_time()
        source = batches(pool, rows)
        if name == "source":
            for _ in source:
                pass
            path.write_bytes(b"")
        elif name == "ours":
            write_ours(path, source, level=1)
        elif name == "ours-level6":
            write_ours(path, source, level=6)
        elif name == "xlsxwriter":
            write_xlsxwriter(path, source)
        elif name == "openpyxl":
            write_openpyxl(path, source)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        size = path.stat().st_size
    return {"name": name, "wall": wall, "cpu": cpu, "peak_mb": peak_rss_mb(), "size": size}


# The zip libraries, on the same sheet XML.


def sheet_xml_pool(megabytes: float) -> list[bytes]:
    """About ``megabytes`` MB of sheet XML (the demo rows' cells), in ~0.5 MB chunks."""
    from stream_exports.core.workbook import workbook_chunks

    rows = int(megabytes * 1e6 / 420) + 1
    data = b"".join(
        workbook_chunks(columns(), batches(demo_pool(), rows), tz=TZ, level=0, max_rows=rows + 1)
    )
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    step = 512 * 1024
    return [xml[at : at + step] for at in range(0, len(xml), step)]


def member_chunks(pool: list[bytes], total: int) -> Iterator[bytes]:
    """``total`` bytes of the pool's chunks, cycled."""
    sent = 0
    for chunk in itertools.cycle(pool):
        if sent >= total:
            return
        chunk = chunk[: total - sent]
        sent += len(chunk)
        yield chunk


def zip_stream_zip(chunks: Iterator[bytes], level: int, total: int) -> Iterator[bytes]:
    from stream_zip import ZIP_AUTO, stream_zip

    when = datetime.datetime(2026, 1, 1)
    files = [("xl/worksheets/sheet1.xml", when, 0o100644, ZIP_AUTO(total, level), chunks)]
    return stream_zip(files, extended_timestamps=False)


def zip_zipstream_ng(chunks: Iterator[bytes], level: int, total: int) -> Iterator[bytes]:
    from zipstream import ZIP_DEFLATED, ZipStream

    stream = ZipStream(compress_type=ZIP_DEFLATED, compress_level=level)
    stream.add(chunks, "xl/worksheets/sheet1.xml")
    return iter(stream)


class _Sink(io.RawIOBase):
    """An unseekable stream: what zipfile writes is taken away as it comes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def zip_zipfile(chunks: Iterator[bytes], level: int, total: int) -> Iterator[bytes]:
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=level)
    with archive, archive.open("xl/worksheets/sheet1.xml", "w") as member:
        for chunk in chunks:
            member.write(chunk)
            yield sink.take()
    yield sink.take()


def zip_zlib(chunks: Iterator[bytes], level: int, total: int) -> Iterator[bytes]:
    """Deflate and CRC alone: the floor every library stands on."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    crc = 0
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        yield compressor.compress(chunk)
    yield compressor.flush()


def zip64_records(path: Path) -> list[str]:
    """The ZIP64 records a zip file has: the end records, and ZIP64 extra fields (id 1)
    or 64-bit data descriptors of its members."""
    data = path.read_bytes()
    found = []
    end = data.rfind(b"PK\x05\x06")
    entries, start = struct.unpack("<H4xI", data[end + 10 : end + 20])
    if data[end - 20 : end - 16] == b"PK\x06\x07":
        found.append("end locator and record")
        (record,) = struct.unpack("<Q", data[end - 12 : end - 4])
        entries, start = struct.unpack("<Q8xQ", data[record + 32 : record + 56])
    at = start
    for _ in range(entries):
        packed, plain, name, extra, comment = struct.unpack("<IIHHH", data[at + 20 : at + 34])
        (offset,) = struct.unpack("<I", data[at + 42 : at + 46])
        wide = _zip64_extra(data[at + 46 + name : at + 46 + name + extra])
        if wide is not None:
            found.append("central directory extra")
            values = iter(struct.unpack(f"<{len(wide) // 8}Q", wide))
            plain = next(values) if plain == 0xFFFFFFFF else plain
            packed = next(values) if packed == 0xFFFFFFFF else packed
            offset = next(values) if offset == 0xFFFFFFFF else offset
        local_name, local_extra = struct.unpack("<HH", data[offset + 26 : offset + 30])
        extra_at = offset + 30 + local_name
        if _zip64_extra(data[extra_at : extra_at + local_extra]) is not None:
            found.append("local header extra")
        descriptor = extra_at + local_extra + packed
        if data[descriptor + 16 : descriptor + 18] != b"PK":
            found.append("64-bit data descriptor")
        at += 46 + name + extra + comment
    return sorted(set(found))


def _zip64_extra(extra: bytes) -> bytes | None:
    """The ZIP64 extra field's data (id 1), if there is one."""
    at = 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack("<HH", extra[at : at + 4])
        if kind == 1:
            return extra[at + 4 : at + 4 + size]
        at += 4 + size
    return None


def run_zipper(name: str, level: int, megabytes: float) -> dict[str, Any]:
    pool = sheet_xml_pool(4)  # (cycled: deflate looks back 32 KB)
    total = int(megabytes * 1e6)
    zipper: Callable[[Iterator[bytes], int, int], Iterator[bytes]] = {
        "zlib": zip_zlib,
        "stream-zip": zip_stream_zip,
        "zipstream-ng": zip_zipstream_ng,
        "zipfile": zip_zipfile,
    }[name]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.zip"
        started, cpu = time.perf_counter(), time.process_time()
        with path.open("wb") as out:
            for chunk in zipper(member_chunks(pool, total), level, total):
                out.write(chunk)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        size = path.stat().st_size
        zip64 = zip64_records(path) if name != "zlib" else []
        if name != "zlib":
            with zipfile.ZipFile(path) as archive:
                assert archive.testzip() is None
    return {
        "name": name,
        "level": level,
        "wall": wall,
        "cpu": cpu,
        "mb_s": total / 1e6 / cpu,
        "size": size,
        "peak_mb": peak_rss_mb(),
        "zip64": zip64,
    }


def in_subprocess(args: list[str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.xlsx_writers", "--json", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.xlsx_writers", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", default=",".join(WRITERS), help="writers, comma-separated")
    parser.add_argument("--zip-libraries", action="store_true")
    parser.add_argument("--mb", type=float, default=150, help="sheet XML zipped, MB")
    parser.add_argument("--levels", default="1,6")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.json:  # one measurement, in this process
        if args.zip_libraries:
            name, level = args.one.split(":")
            print(json.dumps(run_zipper(name, int(level), args.mb)))
        else:
            print(json.dumps(run_writer(args.one, args.rows)))
        return 0
    if args.zip_libraries:
        print(f"{args.mb:g} MB of sheet XML (demo rows), one zip member")
        print("| library | level | wall s | CPU s | MB/s (CPU) | zip MB | peak RSS MB | ZIP64 |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for name in ZIPPERS:
            for level in map(int, args.levels.split(",")):
                one = ["--zip-libraries", "--mb", str(args.mb), "--one", f"{name}:{level}"]
                r = in_subprocess(one)
                zip64 = ", ".join(r["zip64"]) or ("—" if name == "zlib" else "none")
                print(
                    f"| {name} | {level} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['mb_s']:.0f} |"
                    f" {r['size'] / 1e6:.1f} | {r['peak_mb']:.1f} | {zip64} |"
                )
        return 0
    print(f"{args.rows:,} demo rows, {BATCH:,} a batch, in-process, a process each")
    print("| writer | wall s | CPU s | rows/s (CPU) | peak RSS MB | file MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.only.split(","):
        r = in_subprocess(["--rows", str(args.rows), "--one", name])
        rate = args.rows / max(r["cpu"], 1e-9)
        print(
            f"| {name} | {r['wall']:.2f} | {r['cpu']:.2f} | {rate:,.0f} |"
            f" {r['peak_mb']:.0f} | {r['size'] / 1e6:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
