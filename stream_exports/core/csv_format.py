"""The CSV wire format: a header row of field names, then a row per record.

RFC 4180 quoting (a value with a comma, quote, CR or LF is quoted, quotes doubled),
so every value round-trips through Python's ``csv`` module and spreadsheets. Rows
end in ``\\n`` alone, like every stream here. Values are written as the NDJSON
export writes them: decimals exact, datetimes ISO 8601, JSON fields as the
database's JSON text, ``true``/``false``, and empty for null.

CSV has no trailer line. An export that fails after its first byte ends by
breaking the connection (the chunked body never ends), so a reader sees a cut,
not a short file; the row count of a whole download is the job's ``rows``.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import logging
import uuid
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from typing import Any

from .encoding import default, dumps
from .ndjson import Position
from .plan import RowPlan
from .readers import row_batches

__all__ = ["BOM", "MEDIA_TYPE", "cell", "csv_chunks", "csv_rows"]

logger = logging.getLogger("stream_exports")

#: ``header=present``: the first row names the columns (RFC 4180).
MEDIA_TYPE = "text/csv; charset=utf-8; header=present"

#: The UTF-8 byte-order mark, for spreadsheets that guess another encoding without it.
BOM = "\ufeff".encode()


def _text(value: Any) -> str:
    return str(default(value))


#: How each common type is written, looked up by type (a row's cells are the hot loop).
_WRITERS: dict[type, Callable[[Any], str]] = {
    str: lambda value: value,
    type(None): lambda value: "",
    bool: lambda value: "true" if value else "false",
    int: str,
    float: lambda value: dumps(value).decode(),
    list: lambda value: dumps(value).decode(),
    dict: lambda value: dumps(value).decode(),
    decimal.Decimal: str,
    datetime.datetime: datetime.datetime.isoformat,
    datetime.date: datetime.date.isoformat,
    uuid.UUID: str,
}


def cell(value: Any) -> str:
    """One value as its CSV text, as the NDJSON export writes it."""
    return _WRITERS.get(type(value), _text)(value)


def csv_rows(rows: Sequence[Sequence[Any]], width: int) -> bytes:
    """Rows (their first ``width`` values) as CSV lines, each ended by ``\n``.

    A row with a CR in a value is written by a writer told that rows end in CRLF, so
    that it quotes that value too (one told ``\n`` would not); its CRLF is then made LF.
    """
    out = io.StringIO()
    plain = csv.writer(out, lineterminator="\n")
    careful = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        cells = [cell(value) for value in row[:width]]
        if any("\r" in text for text in cells):
            careful.writerow(cells)
            out.seek(out.tell() - 2)
            out.write("\n")
            out.truncate()
        else:
            plain.writerow(cells)
    return out.getvalue().encode()


def csv_chunks(
    plan: RowPlan,
    names: tuple[str, ...],
    *,
    bom: bool = False,
    header: bool = True,
    label: str = "export",
    position: Position | None = None,
) -> Generator[bytes, None, None]:
    """The header row, then a chunk of rows per batch (``position``, if given, kept up to
    date as for NDJSON). A failure after the first byte is logged and raised again: the
    server then breaks the connection (no silent short file)."""
    at = position if position is not None else Position()
    if header:
        yield (BOM if bom else b"") + csv_rows([names], len(names))
    index = plan.cursor_index
    try:
        with closing(row_batches(plan)) as batches:
            for batch in batches:
                at.rows += len(batch)
                at.last = batch[-1][index]
                yield csv_rows(batch, len(names))
    except Exception:
        logger.exception("%s failed after %d rows (CSV: the connection is broken)", label, at.rows)
        raise
