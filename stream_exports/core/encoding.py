"""One JSON object per line: the only place values become bytes.

Lossless and stable: Decimal as its exact string ("12.50"), datetime/date/time
as ISO 8601 (microseconds kept), UUID as its string, JSON fields as JSON. No
encoded line contains a raw CR, LF, U+0085, U+2028 or U+2029, so however a
consumer splits lines (``bytes.splitlines``, ``str.splitlines``,
``requests.iter_lines``), one line is one record.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Collection, Iterable, Sequence
from functools import partial
from itertools import repeat
from typing import Any

import orjson

__all__ = ["default", "dumps", "encode_line", "encode_rows", "escape_separators"]

# Characters that str.splitlines() breaks on but JSON leaves unescaped. (The
# others, CR, LF, VT, FF, FS, GS, RS, are control characters JSON escapes.)
_RAW_SEPARATORS = (
    ("\u0085".encode(), b"\\u0085"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def default(value: Any) -> Any:
    """Encode what JSON lacks, losslessly: the hook for orjson and, for what orjson cannot
    encode (integers beyond 64 bits), the standard library."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _stdlib_dumps(obj: Any) -> bytes:
    return json.dumps(
        obj, default=default, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode()


_orjson_dumps = partial(orjson.dumps, default=default)


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as compact JSON (no line separators escaped yet)."""
    try:
        return _orjson_dumps(obj)
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits and similar: the standard library can do them.
        return _stdlib_dumps(obj)


def escape_separators(data: bytes) -> bytes:
    """Replace raw U+0085/U+2028/U+2029 (only possible inside JSON strings) by escapes:
    ``bytes.replace``, one new buffer per separator present, whose peak memory stays the
    same from run to run, which the flat-memory tests hold it to (splitting and joining is
    twice as fast but makes a piece per separator: a worker's peak varies by up to 12 MiB)."""
    for raw, escaped in _RAW_SEPARATORS:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


def encode_line(obj: Any) -> bytes:
    """One JSON value as one safe line, ``\\n``-terminated."""
    return escape_separators(dumps(obj)) + b"\n"


def encode_rows(
    names: Sequence[str], rows: Iterable[Sequence[Any]], json_text: Collection[str] = ()
) -> bytes:
    """Rows (value tuples, ``names`` in order; extra trailing values ignored) as lines.

    The values of the ``json_text`` names are JSON documents as text (or None),
    embedded as they are.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return b""
    try:
        lines = _orjson_lines(names, rows, json_text)
    except orjson.JSONEncodeError:  # a huge integer: the standard library can do it
        lines = [_dumps_with_json_text(names, row, json_text) for row in rows]
    return escape_separators(b"\n".join(lines)) + b"\n"


def _orjson_lines(
    names: Sequence[str], rows: list[Sequence[Any]], json_text: Collection[str]
) -> list[bytes]:
    """A line per row with no Python code run per row (``map`` of C functions):
    faster than a loop building each row's dict."""
    if json_text:
        columns: list[Iterable[Any]] = list(zip(*rows, strict=False))
        for index, name in enumerate(names):
            if name in json_text:
                columns[index] = _fragments(columns[index])
        rows = list(zip(*columns, strict=False))
    return list(map(_orjson_dumps, map(dict, map(zip, repeat(names), rows))))


def _fragments(texts: Iterable[str | None]) -> Iterable[Any]:
    """JSON documents as text, as orjson embeds them unparsed (None stays None)."""
    column = tuple(texts)
    if None in column:
        return [None if text is None else orjson.Fragment(text) for text in column]
    return tuple(map(orjson.Fragment, column))  # type: ignore[arg-type]  # (no None here)


def _dumps_with_json_text(
    names: Sequence[str], row: Sequence[Any], json_text: Collection[str]
) -> bytes:
    record = dict(zip(names, row, strict=False))
    for name in json_text:
        if (text := record.get(name)) is not None:
            record[name] = orjson.Fragment(text)
    try:
        return _orjson_dumps(record)
    except orjson.JSONEncodeError:  # a huge integer elsewhere in the row
        record = dict(zip(names, row, strict=False))
    for name in json_text:
        if (text := record.get(name)) is not None:
            record[name] = json.loads(text)
    return _stdlib_dumps(record)
