"""PostgreSQL fast path: the database writes each NDJSON line, ``COPY ... TO STDOUT`` streams it.

Used when every exported field is a plain column of a type whose JSON text
PostgreSQL can write exactly as the Python encoder does (integers, text,
booleans, decimals, timestamps, dates, UUIDs, JSON). Lines are byte for byte
those of the ORM path. Raw U+0085/U+2028/U+2029 are escaped here, on each
chunk, as the ORM path does: in SQL, ``replace()`` on every text column cost
the database a third of its time.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import orjson
from django.conf import settings
from django.db import connections, transaction

from ..conf import conf
from .encoding import escape_separators
from .plan import RowPlan

__all__ = ["copy_batches", "line_sql"]

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


def line_sql(plan: RowPlan, names: tuple[str, ...]) -> tuple[str, list[Any]] | None:
    """``SELECT cursor, line FROM (<the plan's query>)``, or None when not every field allows it."""
    connection = connections[plan.queryset.db]
    if connection.vendor != "postgresql" or plan.ordering or not conf.COPY_FAST_PATH:
        return None
    if connection.settings_dict.get("TIME_ZONE") not in (None, "UTC"):
        return None
    connection.ensure_connection()
    if connection.connection.info.parameter_status("server_encoding") != "UTF8":
        return None
    parts, params = [], []
    for index, name in enumerate(names):
        field = plan.column_field(name)
        if field is None:
            return None
        kind = field.get_internal_type()
        template = _JSON_TEXT.get(kind)
        if template is None or field.column is None:
            return None
        if kind == "DateTimeField" and not settings.USE_TZ:
            return None
        column = f"t.{connection.ops.quote_name(field.column)}"
        key = ("," if index else "{") + orjson.dumps(name).decode() + ":"
        value = template.format(c=column)
        parts.append(f"%s || COALESCE({value}, 'null')" if field.null else f"%s || {value}")
        params.append(key)
    cursor = plan.column_field(plan.cursor)
    if cursor is None or cursor.column is None or plan.cursor not in names:
        return None  # the trailer's cursor is read from the last line
    # (The cursor is among the names, so they are the plan's columns.)
    inner = plan.select(plan.after, plan.limit, json_as_text=False)
    inner_sql, inner_params = inner.query.sql_with_params()
    cursor_column = f"t.{connection.ops.quote_name(cursor.column)}"
    sql = f"SELECT {' || '.join(parts)} || '}}' FROM ({inner_sql}) AS t ORDER BY {cursor_column}"
    return sql, [*params, *inner_params]


def copy_batches(
    plan: RowPlan, names: tuple[str, ...]
) -> Generator[tuple[bytes, int, Any], None, None] | None:
    """(lines, how many, last cursor) straight from COPY; None when the plan does not allow it."""
    query = line_sql(plan, names)
    if query is None:
        return None
    return _copy(plan, *query)


def _copy(
    plan: RowPlan, sql: str, params: list[Any]
) -> Generator[tuple[bytes, int, Any], None, None]:
    """Read COPY in binary format: each row is its line as is, no text-format escaping.

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
        cursor.execute("SET LOCAL jit = off")  # compiling costs the first byte ~0.3 s
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params) as copy:
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
