"""The CSV wire format: a header row of field names, then a row per record.

RFC 4180 quoting (a value with a comma, quote, CR or LF is quoted, quotes doubled),
so every value round-trips through Python's ``csv`` module and spreadsheets. Rows
end in ``\\n`` alone, like every stream here. Values are written as the NDJSON
export writes them: decimals exact, datetimes ISO 8601, JSON fields as the
database's JSON text, ``true``/``false``, and empty for null. With ``labels``, the
header row has the columns' labels and choice fields their choices' labels.

A text that a spreadsheet would run as a formula (its first character one of
:data:`FORMULA_STARTS`) is written with a ``'`` before it, unless the
``CSV_ESCAPE_FORMULAS`` setting is off: only texts (a text column's values, the
header), never a number, and never a JSON column's text (valid JSON cannot start so,
but for ``-`` before a number, which no spreadsheet runs).

The database writes the rows, these conventions in its SQL, wherever NDJSON's lines
would be written so: PostgreSQL's ``COPY ... (FORMAT csv)`` (``core.pgcopy``), MariaDB's
keyset pages of ``CONCAT``'d texts (``core.mariadb``).

CSV has no trailer line. An export that fails after its first byte ends by
breaking the connection (the chunked body never ends), so a reader sees a cut,
not a short file; the row count of a whole download is the job's ``rows``.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import uuid
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from typing import Any

from ...conf import conf
from .. import mariadb, pgcopy
from ..encoding import default, dumps
from .base import Content, Format, Position, failed

__all__ = ["BOM", "CSV", "FORMULA_STARTS", "MEDIA_TYPE", "cell", "csv_rows", "inert", "inert_cell"]

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


#: The first characters that make a spreadsheet run a text as a formula (OWASP's list:
#: ``=`` ``+`` ``-`` ``@``, and tab and CR, which Excel skips before one of them).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """``text``, with a ``'`` before it if a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def inert_cell(value: Any) -> str:
    """:func:`cell`, a text made :func:`inert`."""
    return inert(value) if isinstance(value, str) else cell(value)


def csv_rows(
    rows: Sequence[Sequence[Any]], width: int, writers: Sequence[Callable[[Any], str]] = ()
) -> bytes:
    """Rows (their first ``width`` values) as CSV lines, each ended by ``\n``; ``writers``
    writes each column's values (default: :func:`cell`).

    A row with a CR in a value is written by a writer told that rows end in CRLF, so
    that it quotes that value too (one told ``\n`` would not); its CRLF is then made LF.
    """
    out = io.StringIO()
    plain = csv.writer(out, lineterminator="\n")
    careful = csv.writer(out, lineterminator="\r\n")
    writers = writers or [cell] * width
    for row in rows:
        cells = [write(value) for write, value in zip(writers, row, strict=False)]
        if any("\r" in text for text in cells):
            careful.writerow(cells)
            out.seek(out.tell() - 2)
            out.write("\n")
            out.truncate()
        else:
            plain.writerow(cells)
    return out.getvalue().encode()


class CSV(Format):
    """A header row, then a row per record (``bom=1``: a byte-order mark first;
    ``labels=1``: labels for names and choice values)."""

    name = "csv"
    title = "CSV"
    media_type = MEDIA_TYPE
    extension = "csv"
    description = "A header row of field names (with `labels`, the fields' labels), then rows."
    options = ("bom", "labels")

    def chunks(self, content: Content, position: Position) -> Generator[bytes, None, None]:
        """The header row, then a chunk of rows per batch: written by the database where
        NDJSON's lines would be, else here. A failure after the first byte is logged and
        raised again: the server then breaks the connection."""
        options, at, width = content.options, position, len(content.columns)
        escape = conf.CSV_ESCAPE_FORMULAS
        if options.header:
            header = csv_rows([content.headers], width, [inert_cell if escape else cell] * width)
            yield (BOM if options.bom else b"") + header
        try:
            with closing(copied_rows(content, escape) or written_rows(content, escape)) as rows:
                for chunk, count, last_cursor in rows:
                    at.rows += count
                    at.last = last_cursor
                    yield chunk
        except Exception as exc:
            failed(content, at, exc)
            raise


def copied_rows(
    content: Content, escape: bool
) -> Generator[tuple[bytes, int, Any], None, None] | None:
    """(rows, how many, last cursor) as the database writes them (PostgreSQL's ``COPY``,
    MariaDB's pages), or None where it cannot."""
    labels = {
        index: {
            value: (inert(label) if escape else label) or None for value, label in texts.items()
        }
        for index, texts in content.labelled.items()
    }
    starts = FORMULA_STARTS if escape else ()
    plan, names = content.plan, content.names
    return pgcopy.csv_batches(plan, names, starts, labels) or mariadb.csv_batches(
        plan, names, starts, labels
    )


def written_rows(content: Content, escape: bool) -> Generator[tuple[bytes, int, Any], None, None]:
    """(rows, how many, last cursor) written here, a batch of rows at a time."""
    width, json = len(content.columns), content.plan.json_columns
    writers = [inert_cell if escape and name not in json else cell for name in content.names]
    index = content.plan.cursor_index
    with closing(content.batches()) as batches:
        for batch in batches:
            yield csv_rows(batch, width, writers), len(batch), batch[-1][index]
