"""PostgreSQL fast path: the database writes each row, ``COPY ... TO STDOUT`` streams it.

NDJSON lines (``copy_batches``) and CSV rows (``csv_batches``), for the same plans:
every exported field a plain column of a type whose text PostgreSQL can write exactly
as the Python path does (integers, text, booleans, decimals, timestamps, dates, UUIDs,
JSON). Rows are byte for byte those of the Python path. Raw U+0085/U+2028/U+2029 are
escaped in NDJSON here, on each chunk, as the ORM path does: in SQL, ``replace()`` on
every text column cost the database much of its time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connections, models, transaction

from ..conf import conf
from .encoding import escape_separators
from .plan import RowPlan, label_cases

if TYPE_CHECKING:
    from psycopg import Copy
    from psycopg.abc import Buffer

__all__ = ["copy_batches", "csv_batches", "csv_sql", "line_sql"]

_UTC = "({c} AT TIME ZONE 'UTC')"
_TEXT = "to_json({c})::text"

# How PostgreSQL writes each type as the Python encoder would; {c} is the column.
_JSON_TEXT = {
    "AutoField": "{c}::text",
    "BigAutoField": "{c}::text",
    "SmallAutoField": "{c}::text",
    "IntegerField": "{c}::text",
    "BigIntegerField": "{c}::text",
    "SmallIntegerField": "{c}::text",
    "PositiveIntegerField": "{c}::text",
    "PositiveBigIntegerField": "{c}::text",
    "PositiveSmallIntegerField": "{c}::text",
    "CharField": _TEXT,
    "TextField": _TEXT,
    "EmailField": _TEXT,
    "SlugField": _TEXT,
    "URLField": _TEXT,
    "BooleanField": "CASE WHEN {c} THEN 'true' ELSE 'false' END",
    "DecimalField": "'\"' || {c}::text || '\"'",
    "UUIDField": "'\"' || {c}::text || '\"'",
    "DateField": "'\"' || to_char({c}, 'YYYY-MM-DD') || '\"'",
    # isoformat(): microseconds only when there are some. One to_char (a second
    # one for the fraction, chosen by a CASE, cost a fifth of the database's time).
    "DateTimeField": (
        "'\"' || replace(to_char(" + _UTC + ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"
        " || '+00:00\"'"
    ),
    "JSONField": "{c}::text",
}


def _copyable(plan: RowPlan, names: tuple[str, ...]) -> list[tuple[str, models.Field]] | None:
    """``names`` with their model fields when COPY may write them: PostgreSQL in UTF-8 and
    UTC, the fast path on, the plan in cursor order, every field a plain column of a kind
    :data:`_JSON_TEXT` knows, the cursor among them (a chunk's last cursor is read back
    from its last row). The one test both formats' COPY paths pass."""
    connection = connections[plan.queryset.db]
    if connection.vendor != "postgresql" or plan.ordering or not conf.COPY_FAST_PATH:
        return None
    if plan.cursor not in names:
        return None
    if connection.settings_dict.get("TIME_ZONE") not in (None, "UTC"):
        return None
    connection.ensure_connection()
    if connection.connection.info.parameter_status("server_encoding") != "UTF8":
        return None
    return plan.plain_columns(names, _JSON_TEXT)


def _from_plan(plan: RowPlan, select: str, params: list[Any]) -> tuple[str, list[Any]] | None:
    """``SELECT <select> FROM (<the plan's query>) AS t`` in cursor order; None when the plan
    makes no query (as for limit 0: the ORM path reads nothing)."""
    connection = connections[plan.queryset.db]
    inner = plan.select(plan.after, plan.limit, json_as_text=False)
    try:
        inner_sql, inner_params = inner.query.sql_with_params()
    except EmptyResultSet:
        return None
    cursor = plan.column_field(plan.cursor)
    assert cursor is not None and cursor.column is not None  # (_copyable said so)
    order = f"t.{connection.ops.quote_name(cursor.column)}"
    return f"SELECT {select} FROM ({inner_sql}) AS t ORDER BY {order}", [*params, *inner_params]


def _column(plan: RowPlan, field: models.Field) -> str:
    assert field.column is not None  # (a plain column: _copyable said so)
    return f"t.{connections[plan.queryset.db].ops.quote_name(field.column)}"


def line_sql(plan: RowPlan, names: tuple[str, ...]) -> tuple[str, list[Any]] | None:
    """``SELECT line FROM (<the plan's query>)``, or None when not every field allows it."""
    fields = _copyable(plan, names)
    if fields is None:
        return None
    parts, params = [], []
    for index, (name, field) in enumerate(fields):
        key = ("," if index else "{") + orjson.dumps(name).decode() + ":"
        value = _JSON_TEXT[field.get_internal_type()].format(c=_column(plan, field))
        parts.append(f"%s || COALESCE({value}, 'null')" if field.null else f"%s || {value}")
        params.append(key)
    return _from_plan(plan, " || ".join(parts) + " || '}'", params)


def copy_batches(
    plan: RowPlan, names: tuple[str, ...]
) -> Generator[tuple[bytes, int, Any], None, None] | None:
    """(lines, how many, last cursor) straight from COPY; None when the plan does not allow it."""
    query = line_sql(plan, names)
    if query is None:
        return None
    return _copy(plan, *query)


#: Text kinds: written as they are (a formula escaped, an empty text as empty as a null).
_TEXT_KINDS = frozenset(kind for kind, template in _JSON_TEXT.items() if template == _TEXT)
#: How PostgreSQL writes the other kinds as the CSV format does; {c} is the column.
_CSV_TEXT = {
    **{kind: "{c}" for kind, template in _JSON_TEXT.items() if template == "{c}::text"},
    "BooleanField": "CASE {c} WHEN true THEN 'true' WHEN false THEN 'false' END",
    "DecimalField": "{c}",
    "UUIDField": "{c}",
    "DateField": "to_char({c}, 'YYYY-MM-DD')",
    "DateTimeField": (
        "replace(to_char(" + _UTC + ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || '+00:00'"
    ),
    "JSONField": "{c}",
}


def csv_sql(
    plan: RowPlan,
    names: tuple[str, ...],
    formula_starts: tuple[str, ...] = (),
    labels: Mapping[int, Mapping[Any, str | None]] | None = None,
) -> tuple[str, list[Any]] | None:
    """``SELECT <the CSV format's texts>`` for ``COPY ... (FORMAT csv)``, or None where
    NDJSON's COPY path would not serve, or where the chunks' last cursors could not be read
    back from the rows (a text cursor escaped, or alone: COPY quotes ``\\.`` then).

    A text that starts with one of ``formula_starts`` gets a ``'`` before it; an empty
    text is written as a null (COPY would quote it, Python's writer does not);
    ``labels``: by column index, the texts written for stored values, as the CSV format
    writes them (None: empty).
    """
    fields = _copyable(plan, names)
    if fields is None:
        return None
    cursor_kind = dict(fields)[plan.cursor].get_internal_type()
    if cursor_kind in _TEXT_KINDS and (formula_starts or len(names) == 1):
        return None
    codes = ", ".join(str(ord(start)) for start in formula_starts)
    parts, params = [], []
    for index, (_, field) in enumerate(fields):
        column = _column(plan, field)
        kind = field.get_internal_type()
        if kind not in _TEXT_KINDS:
            value = _CSV_TEXT[kind].format(c=column)
        elif codes:
            value = (
                f"CASE WHEN ascii({column}) IN ({codes}) THEN '''' || {column} "
                f"ELSE NULLIF({column}, '') END"
            )
        else:
            value = f"NULLIF({column}, '')"
        if texts := (labels or {}).get(index):
            cases, case_params = label_cases(plan, field, column, texts)
            value = f"CASE {cases} ELSE ({value})::text END"
            params += case_params
        parts.append(value)
    return _from_plan(plan, ", ".join(parts), params)


def csv_batches(
    plan: RowPlan,
    names: tuple[str, ...],
    formula_starts: tuple[str, ...] = (),
    labels: Mapping[int, Mapping[Any, str | None]] | None = None,
) -> Generator[tuple[bytes, int, Any], None, None] | None:
    """(CSV rows, how many, last cursor) straight from ``COPY ... (FORMAT csv)``; None when
    :func:`csv_sql` is."""
    query = csv_sql(plan, names, formula_starts, labels)
    if query is None:
        return None
    cursor = plan.column_field(plan.cursor)
    assert cursor is not None  # (csv_sql said so)
    return _copy_csv(plan, *query, names.index(plan.cursor), cursor)


@contextmanager
def _copy_out(plan: RowPlan, sql: str, params: list[Any], format: str) -> Iterator[Copy]:
    """``COPY (sql) TO STDOUT`` in ``format``, open.

    COPY gets no fast-start planning (a cursor would): with sorting disabled
    for its transaction the planner walks the cursor's index, so the first
    rows leave at once instead of after a sort of the whole table; JIT is off
    for the same reason.
    """
    connection = connections[plan.queryset.db]
    with (
        transaction.atomic(using=plan.queryset.db),
        connection.wrap_database_errors,  # psycopg's errors as Django's, like the ORM path
        connection.connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL jit = off")  # (compiling would hold back the first byte)
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT {format})", params) as copy:
            yield copy


def _copy(
    plan: RowPlan, sql: str, params: list[Any]
) -> Generator[tuple[bytes, int, Any], None, None]:
    """Read COPY in binary format: each row is its line as is, no text-format escaping."""
    with _copy_out(plan, sql, params, "binary") as copy:
        pending: list[bytes] = []
        size, chunk_bytes = 0, conf.COPY_CHUNK_BYTES
        for message in copy:
            line = _line(message)
            if line is None:
                continue
            pending.append(line)
            size += len(line)
            if size >= chunk_bytes:
                yield _chunk(pending, plan.cursor)
                pending, size = [], 0
        if pending:
            yield _chunk(pending, plan.cursor)


def _copy_csv(
    plan: RowPlan, sql: str, params: list[Any], index: int, cursor: models.Field
) -> Generator[tuple[bytes, int, Any], None, None]:
    """Read COPY in CSV format: a message per row, as it is."""
    with _copy_out(plan, sql, params, "csv") as copy:
        pending: list[Buffer] = []
        size, chunk_bytes = 0, conf.COPY_CHUNK_BYTES
        for row in copy:
            pending.append(row)
            size += len(row)
            if size >= chunk_bytes:
                yield b"".join(pending), len(pending), _csv_cursor(pending[-1], index, cursor)
                pending, size = [], 0
        if pending:
            yield b"".join(pending), len(pending), _csv_cursor(pending[-1], index, cursor)


def _csv_cursor(row: Buffer, index: int, cursor: models.Field) -> Any:
    """The cursor's value in a CSV row, as the ORM path reads it."""
    (cells,) = csv.reader(io.StringIO(bytes(row).decode(), newline=""))
    text = cells[index]
    return cursor.to_python(text) if text else None


#: Binary COPY: a header before the first row, then per row a 16-bit field
#: count, a 32-bit length and the bytes; a count of -1 ends the data.
_HEADER = b"PGCOPY\n\xff\r\n\x00"
_HEADER_SIZE = len(_HEADER) + 8


def _line(message: Any) -> bytes | None:
    data = bytes(message)
    if data.startswith(_HEADER):
        data = data[_HEADER_SIZE:]
    if len(data) < 6:  # the end marker (or an empty message)
        return None
    return data[6:]


def _chunk(lines: list[bytes], cursor: str) -> tuple[bytes, int, Any]:
    """Lines joined, line separators escaped; the trailer's cursor read back from the last one."""
    last = orjson.loads(lines[-1])[cursor]
    return escape_separators(b"\n".join(lines)) + b"\n", len(lines), last
