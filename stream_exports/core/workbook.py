"""XLSX workbooks written as a stream: the first bytes out at once, memory flat whatever the rows.

The sheet XML is written here and zipped by ``stream-zip`` as it is made (each member's
sizes and CRC in a data descriptor after it), so there is no temporary file and no
table that grows with the rows: text is written in the cell (``t="inlineStr"``), not
in a shared-strings part.

Parts, in zip order: ``_rels/.rels``, ``xl/styles.xml``, the sheets, then
``xl/workbook.xml`` (sheet names and the autofilters' ``_xlnm._FilterDatabase`` names,
known only at the end), ``xl/_rels/workbook.xml.rels`` and ``[Content_Types].xml``.
Readers find parts through the zip's central directory, so the order is free.

Each sheet: a bold header row, frozen (``ySplit=1``); an autofilter over the header and
the rows; column widths from the column's ``width``, else from its header's length and
its kind. After ``max_rows`` rows (header included: Excel's 1,048,576) the rows go on
in a new sheet with the header again, named ``Title (2)``, ``Title (3)``... (unique,
at most 31 characters, none of ``[]:*?/\\``). A sheet also ends before its XML could
pass ``max_sheet_bytes`` (4.29 GB), so that it fits a 32-bit zip member.

Cells (values as Django gives them):

- null: an empty cell (``<c/>``); an empty text stays an empty text.
- int, Decimal: a number when it has at most 15 significant digits (what Excel holds
  and shows) and is within Excel's range; else its exact digits as text. float: a
  number; NaN and infinities (and floats beyond Excel's range) as text (``NaN``,
  ``Infinity``, ``-Infinity``, the digits). A numeric column takes int, Decimal and
  float alike.
- bool: a boolean (``t="b"``).
- datetime: an Excel serial number (the 1900 date system), shown ``yyyy-mm-dd
  hh:mm:ss``; an aware one as the wall time in ``tz`` (Excel has no zones), a naive
  one as it is. date: a serial shown ``yyyy-mm-dd``. A date before 1900-03-01 is ISO
  8601 text: Excel has none before 1900, and for January and February 1900 it counts
  its fictitious 1900-02-29 where LibreOffice does not, so a serial would show a day
  apart. time: a fraction of a day, ``hh:mm:ss`` (one with a zone: ISO text).
  timedelta: days, ``[h]:mm:ss`` (a negative one: ``-h:mm:ss`` text).
- str (and JSON columns' JSON text, UUIDs): text, never a formula (``=HYPERLINK(...)``
  stays text). Over Excel's 32,767 characters (UTF-16 units) a text is cut, ending in
  a marker that says how long it was and that CSV and NDJSON have it whole. Characters
  XML 1.0 forbids (controls but tab, LF and CR; U+FFFE, U+FFFF; lone surrogates) are
  written ``_xHHHH_``, the OOXML escape Excel and LibreOffice decode, and a literal
  ``_xHHHH_`` in a text as ``_x005F_xHHHH_``, so both read back as written (openpyxl
  leaves them escaped: ``openpyxl.utils.escape.unescape`` decodes). CR is ``&#13;``.
- a value whose type is not its column's: its text (``str``, ISO 8601 for dates and
  times, ``true``/``false``, JSON for lists and dicts), never an error.

The zip: stream-zip, the library that writes a member of unknown size in 32-bit mode
(zipstream-ng gives such a member ZIP64 fields; ``zipfile`` needs glue to stream and
uses ZIP64 from 2 GiB). Every member is 32-bit unless it starts past 4 GiB
(``ZIP_AUTO`` with the sheet's byte bound), so a file under 4 GiB has no ZIP64 record
at all (Excel refuses some files that have them needlessly); past 4 GiB, the members
that start there and the end records are ZIP64, as they must be. Deflate level 1 by
default: deflating is most of the time spent, and level 6 takes well over twice as
long for files only a quarter smaller.

The hot loop: a batch's cells are prepared a column at a time with C-level calls
(``map``, ``min``/``max``; for a text column one UTF-8 encode, one ``bytes.translate``
to find what needs escaping, one split), and each row is one bytes ``%`` of a template
made for the batch. A column with a null in the batch is written cell by cell (still
with C calls), one whose values need care (an odd type, a forbidden character, a long
text, a number Excel cannot hold) one value at a time, by a Python function.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import math
import re
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import compress, repeat
from operator import add, attrgetter, floordiv, is_not, mul, sub
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream_zip import MemberFile

__all__ = ["MEDIA_TYPE", "CellKind", "Column", "workbook_chunks"]

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: Excel's rows per sheet and characters per cell.
MAX_ROWS = 1_048_576
MAX_TEXT = 32_767

#: A sheet ends before its XML passes this: a 32-bit zip member's bound, less deflate's
#: worst growth (stream-zip's ``ZIP_AUTO`` uses 32 bits up to 4,293,656,841 bytes).
MAX_SHEET_BYTES = 4_290_000_000


class CellKind(enum.Enum):
    """What a column holds: how its values are written and shown."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    DURATION = "duration"
    JSON = "json"


@dataclass(frozen=True)
class Column:
    """A column: its header cell's text, its kind, its width in characters (None: from
    the header's length and the kind) and its Excel number format (None: the kind's)."""

    header: str
    kind: CellKind
    width: float | None = None
    number_format: str | None = None


def workbook_chunks(
    columns: Sequence[Column],
    batches: Iterable[Sequence[Sequence[Any]]],
    *,
    tz: datetime.tzinfo,
    sheet_title: str = "Sheet",
    max_rows: int = MAX_ROWS,
    max_sheet_bytes: int = MAX_SHEET_BYTES,
    level: int = 1,
    chunk_size: int = 65_536,
) -> Generator[bytes, None, None]:
    """The .xlsx file as byte chunks, a chunk per batch or so; closing the generator closes
    ``batches``.

    ``batches`` are batches of row tuples, a value per column (extra trailing values are
    ignored). ``tz``: the zone aware datetimes are shown in. ``max_rows``: rows per sheet,
    the header included. ``level``: deflate's. ``chunk_size``: the chunks' size (the
    last may be shorter).
    """
    if not columns:
        raise ValueError("a workbook needs at least one column")
    if max_rows < 2:
        raise ValueError("max_rows counts the header: it must be at least 2")
    book = _Book(columns, batches, tz, sheet_title, max_rows, max_sheet_bytes, level)
    return _chunks(book, chunk_size)


def _chunks(book: _Book, chunk_size: int) -> Generator[bytes, None, None]:
    # (imported here: stream-zip, and pycryptodome under it, cost a process that never
    # writes a workbook nothing)
    from stream_zip import stream_zip

    try:
        yield from stream_zip(book.members(), chunk_size=chunk_size, extended_timestamps=False)
    finally:
        book.close()


# The cells. A row is one bytes ``%`` of a template made for its batch: a piece per
# column (its cell, with ``%s`` or ``%d`` where the value goes) and the row's values. A
# column with a null in the batch gives its cells whole instead (``<c/>`` for a null).

_EMPTY_CELL = b"<c/>"
_BOOL_CELLS: dict[Any, bytes] = {
    True: b'<c t="b"><v>1</v></c>',
    False: b'<c t="b"><v>0</v></c>',
    None: _EMPTY_CELL,
}
_NONE = type(None)
_not_none = partial(is_not, None)
_tzinfo = attrgetter("tzinfo")
_days = attrgetter("days")
_seconds = attrgetter("seconds")
_microseconds = attrgetter("microseconds")

_TEXT_CELL = b'<c t="inlineStr"><is><t>%s</t></is></c>'
_KEPT_TEXT_CELL = b'<c t="inlineStr"><is><t xml:space="preserve">%s</t></is></c>'

#: Serial numbers count days from 1899-12-30, from 1900-03-01 (serial 61) on. Before
#: that Excel counts a 1900-02-29 that never was and LibreOffice does not: they would
#: show a serial a day apart. A serial's fraction is written to 1e-11 day (0.864 µs),
#: with integers only: formatting a float costs three times as much.
_EPOCH = datetime.datetime(1899, 12, 30)
_EPOCH_DATE = _EPOCH.date()
_EPOCH_ORDINAL = _EPOCH_DATE.toordinal()
_FIRST_SERIAL = 61
_NO_TIME = datetime.timedelta(0)

#: Numbers: 15 significant digits, and Excel's range.
_BIG_INT = 10**15
_EXCEL_MAX = 9.99999999999999e307
_EXCEL_MIN = 2.2250738585072014e-308

#: Texts this short fit a cell even if every character is two UTF-16 units.
_SURELY_FITS = MAX_TEXT // 2

#: A text column's values are joined by NULs to be checked (and escaped) at once.
_JOIN = "\x00"
#: The UTF-8 bytes that need no care in a text: all but ``&<>``, CR and the controls
#: other than tab and LF (NUL among them: its count tells the joins from a text's NUL).
_PLAIN_BYTES = bytes(sorted(set(range(256)) - set(b"&<>\r") - (set(range(32)) - set(b"\t\n"))))
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORBIDDEN_BUT_NUL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LITERAL_ESCAPE = re.compile("_(?=x[0-9A-Fa-f]{4}_)")


def _forbidden(match: re.Match[str]) -> str:
    return f"_x{ord(match.group()):04X}_"


def _escape(text: str, forbidden: re.Pattern[str] = _FORBIDDEN) -> str:
    """``text`` as an OOXML cell's XML text (NULs left as they are if ``forbidden`` says)."""
    if "_x" in text:
        text = _LITERAL_ESCAPE.sub("_x005F_", text)
    text = forbidden.sub(_forbidden, text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _cut(text: str) -> str:
    """``text`` whole if it fits a cell, else cut to fit with a marker at its end."""
    if len(text) <= _SURELY_FITS:
        return text
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    if units <= MAX_TEXT:
        return text
    marker = (
        f" [… cut: {len(text):,} characters in all, Excel holds {MAX_TEXT:,};"
        " the CSV and NDJSON exports have the whole text]"
    )
    head = text.encode("utf-16-le", "surrogatepass")[: (MAX_TEXT - len(marker)) * 2]
    if 0xD800 <= int.from_bytes(head[-2:], "little") <= 0xDBFF:
        head = head[:-2]  # not half a pair
    return head.decode("utf-16-le", "surrogatepass") + marker


def _text_cell(text: str, style: str = "") -> str:
    text = _escape(_cut(text))
    kept = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c t="inlineStr"{style}><is><t{kept}>{text}</t></is></c>'


def _as_text(value: Any) -> str:
    """A value in a column not of its type, as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _duration_text(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _duration_text(value: datetime.timedelta) -> str:
    sign, value = ("-", -value) if value < _NO_TIME else ("", value)
    minutes, seconds = divmod(value.days * 86_400 + value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    fraction = f".{value.microseconds:06d}" if value.microseconds else ""
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}{fraction}"


def _number_text(value: int | float | decimal.Decimal) -> str | None:
    """A number as a cell's ``<v>``, or None if Excel would not hold it exactly."""
    if isinstance(value, int):
        if -_BIG_INT < value < _BIG_INT:
            return str(value)
        digits = str(abs(value)).rstrip("0")
        if len(digits) > 15 or abs(value) > _EXCEL_MAX:
            return None
        return repr(float(value))
    if isinstance(value, float):
        size = abs(value)
        if not math.isfinite(value) or size > _EXCEL_MAX or 0 < size < _EXCEL_MIN:
            return None
        return repr(value)
    if not value.is_finite():
        return None
    significant = len(bytes(value.as_tuple().digits).rstrip(b"\0"))
    if value and (significant > 15 or not -307 <= value.adjusted() <= 307):
        return None
    text = str(value)
    return repr(float(value)) if "E" in text else text


def _fraction(seconds: int, microseconds: int) -> int:
    """A time of day in 1e-11 days, rounded (the integer ``_fractions`` computes)."""
    return (seconds * 1_000_000_000 + microseconds * 1000 + 432) // 864


def _fractions(spans: Sequence[datetime.timedelta]) -> Iterator[int]:
    """``_fraction`` of each span's seconds and microseconds, with C calls only."""
    nanoseconds = map(
        add,
        map(mul, map(_seconds, spans), repeat(1_000_000_000)),
        map(mul, map(_microseconds, spans), repeat(1000)),
    )
    return map(floordiv, map(add, nanoseconds, repeat(432)), repeat(864))


def _serial(span: datetime.timedelta) -> str:
    """A span from 1899-12-30 (or a duration) as a serial number's text."""
    return f"{span.days}.{_fraction(span.seconds, span.microseconds):011d}"


def _bytes(texts: Iterable[str]) -> list[bytes]:
    """Texts (none with a NUL) as UTF-8, encoded at once."""
    return _JOIN.join(texts).encode().split(b"\0")


def _scatter(mask: list[bool], cells: Iterable[bytes]) -> list[bytes]:
    """``cells`` where ``mask`` is true, an empty cell elsewhere."""
    out = [_EMPTY_CELL] * len(mask)
    deque(map(out.__setitem__, compress(range(len(mask)), mask), cells), maxlen=0)
    return out


#: A batch's preparation of one column: its cell's template piece and what fills it (one
#: iterable of values for each ``%``).
_Prepared = tuple[bytes, list[Iterable[Any]]]
#: Where a batch's nulls are (None: it has none).
_Mask = list[bool] | None
#: A kind's preparation: (all values, their types but None's, the values but nulls, mask).
_Batch = Callable[[Sequence[Any], set[type], Sequence[Any], _Mask], _Prepared]


class _Writer:
    """How one column's cells are written: a batch's values at a time (``prepare``), or
    one value at a time (``cell``: the careful way, for any value)."""

    def __init__(self, kind: CellKind, style: int, tz: datetime.tzinfo) -> None:
        self.kind = kind
        self.style = f' s="{style}"' if style else ""
        self.tz = tz
        #: 1899-12-30 in ``tz``: an aware datetime in ``tz`` less this is its wall time's span.
        self.epoch = _EPOCH.replace(tzinfo=tz)
        #: Whether ``tz``'s offset is always the same (then no datetime need be moved to it).
        self.fixed = isinstance(tz, datetime.timezone)
        self.number = f"<c{self.style}><v>%s</v></c>"
        self.numbers = self.number.encode()
        self.serials = f"<c{self.style}><v>%d.%011d</v></c>".encode()
        numeric: dict[type, Callable[[Any], str]] = dict.fromkeys(
            (int, float, decimal.Decimal), self._number
        )
        accepts: dict[CellKind, dict[type, Callable[[Any], str]]] = {
            CellKind.TEXT: {str: _text_cell},
            CellKind.JSON: {str: _text_cell},
            CellKind.INTEGER: numeric,
            CellKind.DECIMAL: numeric,
            CellKind.FLOAT: numeric,
            CellKind.BOOLEAN: {bool: self._bool},
            CellKind.DATE: {datetime.date: self._date},
            CellKind.DATETIME: {datetime.datetime: self._datetime},
            CellKind.TIME: {datetime.time: self._time},
            CellKind.DURATION: {datetime.timedelta: self._duration},
        }
        self.accepts = accepts[kind]
        self.batch: _Batch = {
            CellKind.TEXT: self._texts,
            CellKind.JSON: self._texts,
            CellKind.INTEGER: self._numbers,
            CellKind.DECIMAL: self._numbers,
            CellKind.FLOAT: self._numbers,
            CellKind.BOOLEAN: self._bools,
            CellKind.DATE: self._dates,
            CellKind.DATETIME: self._datetimes,
            CellKind.TIME: self._times,
            CellKind.DURATION: self._durations,
        }[kind]

    # One value at a time.

    def cell(self, value: Any) -> str:
        """One value's cell, whatever its type."""
        if value is None:
            return "<c/>"
        write = self.accepts.get(type(value))
        return _text_cell(_as_text(value)) if write is None else write(value)

    def careful(self, values: Sequence[Any]) -> _Prepared:
        return b"%s", [_bytes(map(self.cell, values))]

    def _number(self, value: Any) -> str:
        text = _number_text(value)
        if text is None:
            return _text_cell(_float_text(value) if isinstance(value, float) else str(value))
        return self.number % text

    def _bool(self, value: bool) -> str:
        return f'<c t="b"><v>{value:d}</v></c>'

    def _date(self, value: datetime.date) -> str:
        days = value.toordinal() - _EPOCH_ORDINAL
        return self.number % days if days >= _FIRST_SERIAL else _text_cell(value.isoformat())

    def _datetime(self, value: datetime.datetime) -> str:
        local = value if value.tzinfo is None else value.astimezone(self.tz).replace(tzinfo=None)
        span = local - _EPOCH
        if span.days < _FIRST_SERIAL:
            return _text_cell(local.isoformat())
        return self.number % _serial(span)

    def _time(self, value: datetime.time) -> str:
        if value.tzinfo is not None:
            return _text_cell(value.isoformat())
        return self.number % _serial(datetime.datetime.combine(_EPOCH_DATE, value) - _EPOCH)

    def _duration(self, value: datetime.timedelta) -> str:
        if value < _NO_TIME:
            return _text_cell(_duration_text(value))
        return self.number % _serial(value)

    # A batch's values at a time: C-level calls over the column, or ``careful``.

    def prepare(self, values: Sequence[Any]) -> _Prepared:
        """A batch's values of this column: their cell's template piece and what fills it."""
        types = set(map(type, values))
        if _NONE not in types:
            return self.batch(values, types, values, None)
        if len(types) == 1:
            return _EMPTY_CELL, []
        mask = list(map(_not_none, values))
        types.discard(_NONE)
        return self.batch(values, types, list(compress(values, mask)), mask)

    @staticmethod
    def _done(piece: bytes, present: Iterable[Any], mask: _Mask) -> _Prepared:
        """The piece and its values; with nulls, the cells themselves (and ``<c/>``)."""
        if mask is None:
            return piece, [present]
        return b"%s", [_scatter(mask, map(piece.__mod__, present))]

    def _texts(
        self, values: Sequence[Any], types: set[type], present: Sequence[Any], mask: _Mask
    ) -> _Prepared:
        if not types <= {str, uuid.UUID}:
            return self.careful(values)
        if uuid.UUID in types:
            present = list(map(str, present))
        if max(map(len, present)) > _SURELY_FITS:
            return self.careful(values)
        joined = _JOIN.join(present)
        try:
            data = joined.encode()
        except UnicodeEncodeError:  # a lone surrogate
            return self.careful(values)
        special = data.translate(None, _PLAIN_BYTES)
        # (a str that is all Latin-1 knows at once that it has no U+FFFE or U+FFFF)
        if (
            len(special) >= len(present)
            or b"_x" in data
            or "\ufffe" in joined
            or "\uffff" in joined
        ):
            if joined.count(_JOIN) >= len(present):  # a text has a NUL
                return self.careful(values)
            data = _escape(joined, _FORBIDDEN_BUT_NUL).encode()
        texts = data.split(b"\0")
        kept = list(map(bytes.strip, texts)) != texts
        return self._done(_KEPT_TEXT_CELL if kept else _TEXT_CELL, texts, mask)

    def _numbers(
        self, values: Sequence[Any], types: set[type], present: Sequence[Any], mask: _Mask
    ) -> _Prepared:
        if types == {int}:
            if min(present) > -_BIG_INT and max(present) < _BIG_INT:
                return self._done(self.numbers.replace(b"%s", b"%d"), present, mask)
        elif types == {decimal.Decimal}:
            data = _JOIN.join(map(str, present)).encode()
            texts = data.split(b"\0")
            if max(map(len, texts)) <= 15 and not (b"E" in data or b"N" in data or b"I" in data):
                return self._done(self.numbers, texts, mask)
        elif types == {float} and all(map(math.isfinite, present)):
            sizes = list(map(abs, present))
            if max(sizes) <= _EXCEL_MAX and min(filter(None, sizes), default=1.0) >= _EXCEL_MIN:
                return self._done(self.numbers.replace(b"%s", b"%a"), present, mask)
        return self.careful(values)

    def _bools(
        self, values: Sequence[Any], types: set[type], present: Sequence[Any], mask: _Mask
    ) -> _Prepared:
        if types != {bool}:
            return self.careful(values)
        if mask is None:
            return b'<c t="b"><v>%d</v></c>', [values]
        return b"%s", [map(_BOOL_CELLS.__getitem__, values)]

    def _dates(
        self, values: Sequence[Any], types: set[type], present: Sequence[Any], mask: _Mask
    ) -> _Prepared:
        if types != {datetime.date}:
            return self.careful(values)
        days = list(map(sub, map(datetime.date.toordinal, present), repeat(_EPOCH_ORDINAL)))
        if min(days) < _FIRST_SERIAL:
            return self.careful(values)
        return self._done(self.numbers.replace(b"%s", b"%d"), days, mask)

    def _datetimes(
        self, values: Sequence[Any], types: set[type], present: Sequence[Any], mask: _Mask
    ) -> _Prepared:
        if types != {datetime.datetime}:
            return self.careful(values)
        zones = set(map(_tzinfo, present))
        if None in zones:
            if len(zones) > 1:
                return self.careful(values)  # naive and aware mixed
            spans = list(map(sub, present, repeat(_EPOCH)))
        else:
            if not (self.fixed or zones == {self.tz}):
                present = list(map(datetime.datetime.astimezone, present, repeat(self.tz)))
                if set(map(_tzinfo, present)) != {self.tz}:
                    return self.careful(values)  # a tzinfo per offset (pytz)
            spans = list(map(sub, present, repeat(self.epoch)))
        if min(spans).days < _FIRST_SERIAL:
            return self.careful(values)
        return self._spans(spans, mask)

    def _spans(self, spans: Sequence[datetime.timedelta], mask: _Mask) -> _Prepared:
        """Serial numbers of spans from 1899-12-30 (or of durations), as ``%d.%011d``."""
        days = map(_days, spans)
        if mask is None:
            return self.serials, [days, _fractions(spans)]
        cells = map(self.serials.__mod__, zip(days, _fractions(spans), strict=True))
        return b"%s", [_scatter(mask, cells)]

    def _times(
        self, values: Sequence[Any], types: set[type], present: Sequence[Any], mask: _Mask
    ) -> _Prepared:
        if types != {datetime.time} or set(map(_tzinfo, present)) != {None}:
            return self.careful(values)
        moments = map(datetime.datetime.combine, repeat(_EPOCH_DATE), present)
        return self._spans(list(map(sub, moments, repeat(_EPOCH))), mask)

    def _durations(
        self, values: Sequence[Any], types: set[type], present: Sequence[Any], mask: _Mask
    ) -> _Prepared:
        if types != {datetime.timedelta} or min(present) < _NO_TIME:
            return self.careful(values)
        return self._spans(present, mask)


# The parts.

_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_RELS_CONTENT = "application/vnd.openxmlformats-package.relationships+xml"

_ROOT_RELS = (
    f'{_DECLARATION}<Relationships xmlns="{_PACKAGE_RELATIONSHIPS}">'
    f'<Relationship Id="rId1" Type="{_RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
).encode()

#: The number format each kind is shown in (None: General).
_FORMATS: dict[CellKind, str] = {
    CellKind.DATE: "yyyy-mm-dd",
    CellKind.DATETIME: "yyyy-mm-dd hh:mm:ss",
    CellKind.TIME: "hh:mm:ss",
    CellKind.DURATION: "[h]:mm:ss",
}

#: The width (in characters) each kind's values usually need.
_WIDTHS: dict[CellKind, float] = {
    CellKind.TEXT: 24,
    CellKind.JSON: 40,
    CellKind.INTEGER: 10,
    CellKind.DECIMAL: 12,
    CellKind.FLOAT: 12,
    CellKind.BOOLEAN: 8,
    CellKind.DATE: 11,
    CellKind.DATETIME: 20,
    CellKind.TIME: 10,
    CellKind.DURATION: 11,
}
_MAX_WIDTH = 60.0

#: The characters a sheet name cannot have (Excel's, and XML's).
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\\x00-\x1f\ud800-\udfff\ufffe\uffff]")
_SHEET_NAME_UNITS = 31

#: A batch is rendered this many rows at a time at most (the memory a chunk needs).
_SLICE = 4_096
#: Room kept in a sheet for its end (``</sheetData>``, the autofilter).
_TAIL_ROOM = 256


def _column_letters(number: int) -> str:
    """A column's letters: 1 is A, 27 is AA."""
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(text: str) -> str:
    return _xml(text).replace('"', "&quot;")


def _width(column: Column) -> float:
    if column.width is not None:
        return min(max(column.width, 0.0), 255.0)
    return min(max(_WIDTHS[column.kind], len(column.header) * 1.1 + 3), _MAX_WIDTH)


def _units_head(text: str, units: int) -> str:
    """``text``'s start, at most ``units`` UTF-16 units long."""
    while len(text.encode("utf-16-le", "surrogatepass")) > units * 2:
        text = text[:-1]
    return text


class _Book:
    """A workbook being written: its parts as zip members, sheets as the rows come."""

    def __init__(
        self,
        columns: Sequence[Column],
        batches: Iterable[Sequence[Sequence[Any]]],
        tz: datetime.tzinfo,
        title: str,
        max_rows: int,
        max_sheet_bytes: int,
        level: int,
    ) -> None:
        self.columns = tuple(columns)
        self.source = batches
        self.batches = iter(batches)
        self.max_rows = max_rows
        self.max_sheet_bytes = max_sheet_bytes
        self.level = level
        self.when = datetime.datetime.now(tz).replace(tzinfo=None, microsecond=0)
        formats = [column.number_format or _FORMATS.get(column.kind) for column in columns]
        self.formats = list(dict.fromkeys(code for code in formats if code))
        styles = {code: index for index, code in enumerate(self.formats, start=2)}
        self.writers = [
            _Writer(c.kind, styles.get(f or "", 0), tz)
            for c, f in zip(columns, formats, strict=True)
        ]
        self.width = len(self.columns)
        self.last_column = _column_letters(self.width)
        self.title = _NOT_IN_SHEET_NAMES.sub("_", title).strip("'") or "Sheet"
        if self.title.lower() == "history":  # Excel keeps that name
            self.title += "_"
        self.names: list[str] = []
        self.rows: list[int] = []
        self.pending: Sequence[Sequence[Any]] = ()
        self.offset = 0
        self.ended = False

    def close(self) -> None:
        """Close the source of rows."""
        for source in (self.batches, self.source):
            close = getattr(source, "close", None)
            if close is not None:
                close()

    # The members, in order.

    def members(self) -> Iterator[MemberFile]:
        from stream_zip import ZIP_AUTO

        mode = 0o100644
        yield "_rels/.rels", self.when, mode, ZIP_AUTO(len(_ROOT_RELS), self.level), (_ROOT_RELS,)
        yield self._member("xl/styles.xml", self._styles())
        while not self.ended:
            path = f"xl/worksheets/sheet{len(self.names) + 1}.xml"
            method = ZIP_AUTO(self.max_sheet_bytes, self.level)
            yield path, self.when, mode, method, self._sheet()
        yield self._member("xl/workbook.xml", self._workbook())
        yield self._member("xl/_rels/workbook.xml.rels", self._workbook_rels())
        yield self._member("[Content_Types].xml", self._content_types())

    def _member(self, path: str, text: str) -> MemberFile:
        from stream_zip import ZIP_AUTO

        data = text.encode()
        return path, self.when, 0o100644, ZIP_AUTO(len(data), self.level), (data,)

    def _styles(self) -> str:
        formats = "".join(
            f'<numFmt numFmtId="{164 + index}" formatCode="{_attribute(code)}"/>'
            for index, code in enumerate(self.formats)
        )
        font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
        xfs = "".join(
            f'<xf numFmtId="{164 + index}" fontId="0" fillId="0" borderId="0" xfId="0"'
            ' applyNumberFormat="1"/>'
            for index in range(len(self.formats))
        )
        return (
            f'{_DECLARATION}<styleSheet xmlns="{_MAIN}">'
            + (f'<numFmts count="{len(self.formats)}">{formats}</numFmts>' if formats else "")
            + f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            f'<cellXfs count="{2 + len(self.formats)}">'
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
            f"{xfs}</cellXfs>"
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>"
        )

    def _workbook(self) -> str:
        sheets = "".join(
            f'<sheet name="{_attribute(name)}" sheetId="{number}" r:id="rId{number}"/>'
            for number, name in enumerate(self.names, start=1)
        )
        filters = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{index}" hidden="1">'
            + _xml("'" + name.replace("'", "''") + f"'!$A$1:${self.last_column}${rows + 1}")
            + "</definedName>"
            for index, (name, rows) in enumerate(zip(self.names, self.rows, strict=True))
        )
        return (
            f'{_DECLARATION}<workbook xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIPS}">'
            '<workbookPr/><bookViews><workbookView activeTab="0"/></bookViews>'
            f"<sheets>{sheets}</sheets><definedNames>{filters}</definedNames></workbook>"
        )

    def _workbook_rels(self) -> str:
        sheets = "".join(
            f'<Relationship Id="rId{number}" Type="{_RELATIONSHIPS}/worksheet"'
            f' Target="worksheets/sheet{number}.xml"/>'
            for number in range(1, len(self.names) + 1)
        )
        return (
            f'{_DECLARATION}<Relationships xmlns="{_PACKAGE_RELATIONSHIPS}">{sheets}'
            f'<Relationship Id="rId{len(self.names) + 1}" Type="{_RELATIONSHIPS}/styles"'
            ' Target="styles.xml"/></Relationships>'
        )

    def _content_types(self) -> str:
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{number}.xml"'
            f' ContentType="{_CONTENT}.worksheet+xml"/>'
            for number in range(1, len(self.names) + 1)
        )
        return (
            f'{_DECLARATION}<Types xmlns="{_CONTENT_TYPES}">'
            f'<Default Extension="rels" ContentType="{_RELS_CONTENT}"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CONTENT}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_CONTENT}.styles+xml"/>'
            f"{sheets}</Types>"
        )

    # A sheet.

    def _sheet_name(self) -> str:
        taken = {name.casefold() for name in self.names}
        number = len(self.names) + 1
        while True:
            suffix = f" ({number})" if number > 1 else ""
            name = _units_head(self.title, _SHEET_NAME_UNITS - len(suffix)).rstrip("'") + suffix
            if name.casefold() not in taken:
                return name
            number += 1

    def _sheet_head(self) -> str:
        selected = "" if self.names else ' tabSelected="1"'
        widths = "".join(
            f'<col min="{number}" max="{number}" width="{_width(column):.2f}" customWidth="1"/>'
            for number, column in enumerate(self.columns, start=1)
        )
        header = "".join(_text_cell(column.header, ' s="1"') for column in self.columns)
        return (
            f'{_DECLARATION}<worksheet xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIPS}">'
            f'<sheetViews><sheetView{selected} workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{widths}</cols>'
            f'<sheetData><row r="1">{header}</row>'
        )

    def _sheet(self) -> Iterator[bytes]:
        """A sheet's XML: the header, rows until the sheet is full or the rows end."""
        name = self._sheet_name()
        head = self._sheet_head().encode()
        yield head
        size = len(head) + _TAIL_ROOM
        rows = 0
        room = self.max_rows - 1
        while rows < room and self._more():
            batch = self._take(min(room - rows, _SLICE))
            data = self._render(batch, rows + 2)
            if size + len(data) > self.max_sheet_bytes:
                data, taken = self._fit(batch, rows + 2, self.max_sheet_bytes - size, rows == 0)
                self.offset -= len(batch) - taken
                yield data
                rows += taken
                break
            yield data
            size += len(data)
            rows += len(batch)
        self.ended = not self._more()
        self.names.append(name)
        self.rows.append(rows)
        end = f"{self.last_column}{rows + 1}"
        yield f'</sheetData><autoFilter ref="A1:{end}"/></worksheet>'.encode()

    def _more(self) -> bool:
        """Whether rows are left (reading the next batch if need be)."""
        while self.offset >= len(self.pending):
            try:
                self.pending = next(self.batches)
            except StopIteration:
                self.pending, self.offset = (), 0
                return False
            self.offset = 0
        return True

    def _take(self, count: int) -> Sequence[Sequence[Any]]:
        """Up to ``count`` of the rows left (``_more`` said there are)."""
        start, self.offset = self.offset, min(self.offset + count, len(self.pending))
        if start == 0 and self.offset == len(self.pending):
            return self.pending
        return self.pending[start : self.offset]

    def _rows(self, batch: Sequence[Sequence[Any]], first: int) -> Iterator[bytes]:
        """The rows' XML, the first numbered ``first``."""
        if min(map(len, batch)) < self.width:
            raise ValueError(f"a row has fewer values than the {self.width} columns")
        pieces = [b'<row r="%d">']
        values: list[Iterable[Any]] = [range(first, first + len(batch))]
        for writer, column in zip(self.writers, zip(*batch, strict=False), strict=False):
            piece, cells = writer.prepare(column)
            pieces.append(piece)
            values += cells
        pieces.append(b"</row>")
        return map(b"".join(pieces).__mod__, zip(*values, strict=False))

    def _render(self, batch: Sequence[Sequence[Any]], first: int) -> bytes:
        return b"".join(self._rows(batch, first))

    def _fit(
        self, batch: Sequence[Sequence[Any]], first: int, room: int, at_least_one: bool
    ) -> tuple[bytes, int]:
        """As many of the rows as fit in ``room`` bytes (one at least if asked), and how many."""
        data: list[bytes] = []
        for row in self._rows(batch, first):
            if len(row) > room and (data or not at_least_one):
                break
            data.append(row)
            room -= len(row)
        return b"".join(data), len(data)
