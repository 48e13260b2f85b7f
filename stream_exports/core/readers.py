"""Rows out of the database in cursor order, a batch at a time, never all at once.

Three ways, one interface (an iterator of row batches):

- ``stream``: on PostgreSQL with libpq 17+ (psycopg's binary package has it), one
  query whose rows the database sends as it makes them, in chunks (psycopg's
  ``Cursor.stream``): no round trip per batch, the database working while the batch
  before is encoded, the socket's buffers bounding what is in flight (the fastest of
  the three). No cursor and no transaction, so it also works through a pooler in
  transaction mode.
- ``cursor``: one query read through a server-side cursor. On PostgreSQL it is
  opened inside a transaction, so it is not declared ``WITH HOLD`` (which would
  make the server materialise the whole result before the first row).
- ``keyset``: pages of ``chunk_size`` rows, each ``WHERE cursor > last ORDER BY
  cursor LIMIT n``. For backends or poolers without server-side cursors
  (``DISABLE_SERVER_SIDE_CURSORS`` for pgbouncer in transaction mode, MySQL).
"""

from __future__ import annotations

import inspect
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager, nullcontext
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction

from ..conf import conf
from .plan import RowPlan

if TYPE_CHECKING:
    from psycopg.adapt import Loader

__all__ = [
    "ENGINES",
    "Batch",
    "choose_engine",
    "cursor_batches",
    "keyset_batches",
    "row_batches",
    "streamed_batches",
]

Batch = list[tuple[Any, ...]]

ENGINES = ("auto", "stream", "cursor", "keyset")


def choose_engine(using: str, setting: str | None = None) -> str:
    """The engine to use on database alias ``using`` for the ENGINE setting
    (``stream`` asked for where it cannot be is what ``auto`` picks there)."""
    setting = setting or conf.ENGINE
    if setting not in ("auto", "stream"):
        return setting
    if sends_in_chunks(using):
        return "stream"
    connection = connections[using]
    streams = connection.vendor in ("postgresql", "sqlite")
    disabled = connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)
    return "cursor" if streams and not disabled else "keyset"


def sends_in_chunks(using: str) -> bool:
    """Whether ``using`` is PostgreSQL through psycopg 3.2+ on libpq 17+: what
    ``Cursor.stream(size=n)`` needs to send rows in chunks rather than one by one
    (and Django's compiler converts the rows it is handed)."""
    if connections[using].vendor != "postgresql" or not _compiler_converts_given_rows():
        return False
    try:
        from psycopg import capabilities
    except ImportError:  # psycopg2, psycopg 3.1
        return False
    return bool(capabilities.has_stream_chunked())


@lru_cache(maxsize=1)
def _compiler_converts_given_rows() -> bool:
    """Django's SQL compiler applies its converters to rows it is handed
    (``results_iter(results=...)``: internal API, the same from 5.2 to 6.1 and
    tested on each); without it the ``cursor`` engine reads instead."""
    from django.db.models.sql.compiler import SQLCompiler

    parameters = inspect.signature(SQLCompiler.results_iter).parameters
    return "results" in parameters and "tuple_expected" in parameters


@contextmanager
def fast_timestamps(using: str) -> Iterator[None]:
    """Load ``timestamptz`` with psycopg's C loader on ``using``'s connection for the block.

    Django registers a Python subclass of psycopg's Python loader (to set the
    zone it already has), which costs the ORM path much of its time. The C loader
    gives the same instants in the session's zone, which Django set to its own.
    """
    connection = connections[using]
    loader = _c_timestamptz_loader(connection) if connection.vendor == "postgresql" else None
    if loader is None:
        yield
        return
    connection.ensure_connection()
    adapters = connection.connection.adapters
    oid = adapters.types["timestamptz"].oid
    django_loader = adapters.get_loader(oid, loader.format)
    adapters.register_loader(oid, loader)
    try:
        yield
    finally:
        adapters.register_loader(oid, django_loader)


def _c_timestamptz_loader(connection: Any) -> type[Loader] | None:
    """psycopg's C ``timestamptz`` loader behind the Python class Django's cursors
    inspect (its ``timezone``); None without USE_TZ (Django then drops the zone)
    or without psycopg 3's C module (psycopg2, pure-Python psycopg)."""
    try:
        from psycopg._cmodule import _psycopg
        from psycopg.types.datetime import TimestamptzLoader
    except ImportError:
        return None
    if _psycopg is None or connection.timezone is None:
        return None
    return _loader_for(connection.timezone, TimestamptzLoader, _psycopg.TimestamptzLoader)


@lru_cache(maxsize=8)
def _loader_for(timezone: Any, python_loader: type, c_loader: type[Loader]) -> type[Loader]:
    class CTimestamptzLoader(python_loader):
        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self.load = c_loader(oid, context).load

    CTimestamptzLoader.timezone = timezone  # what Django's cursors compare with theirs
    return CTimestamptzLoader


def cursor_batches(plan: RowPlan, chunk_size: int) -> Generator[Batch, None, None]:
    """One query, read through a server-side cursor.

    On PostgreSQL inside a transaction (no ``WITH HOLD``). Elsewhere not: on
    SQLite a transaction would take the write lock, and one statement reads
    consistently on its own.
    """
    queryset = plan.select(plan.after, plan.limit)
    in_transaction = connections[queryset.db].vendor == "postgresql"
    with (
        transaction.atomic(using=queryset.db) if in_transaction else nullcontext(),
        fast_timestamps(queryset.db),
        # Close the cursor before the transaction ends, not when it is collected.
        # iterator() returns a generator; django-stubs declares a plain Iterator.
        closing(queryset.iterator(chunk_size=chunk_size)) as rows,  # type: ignore[type-var]
    ):
        while batch := list(islice(rows, chunk_size)):
            yield batch


def streamed_batches(plan: RowPlan, chunk_size: int) -> Generator[Batch, None, None]:
    """One query whose rows PostgreSQL sends as it makes them, ``chunk_size`` at a time.

    Django compiles the query and converts the values (``results_iter`` given the
    rows), as ``iterator()`` would. Closing the generator early cancels the query
    (psycopg's ``stream`` does that on exit).
    """
    queryset = plan.select(plan.after, plan.limit)
    compiler = queryset.query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # e.g. a filter on an empty list: no query at all
        return
    connection = connections[queryset.db]
    with (
        connection.wrap_database_errors,
        # Inside a transaction (ATOMIC_REQUESTS, a test): a cancelled query would
        # abort it; a savepoint takes the cancel instead.
        transaction.atomic(using=queryset.db) if connection.in_atomic_block else nullcontext(),
        fast_timestamps(queryset.db),
        connection.cursor() as cursor,
        closing(cursor.cursor.stream(sql, params, size=chunk_size)) as sent,
    ):
        if compiler.has_extra_select:  # columns Django selects only to order by
            sent = (row[: compiler.col_count] for row in sent)
        rows = compiler.results_iter(results=[sent], tuple_expected=True)
        while batch := list(islice(rows, chunk_size)):
            yield batch


def keyset_batches(plan: RowPlan, chunk_size: int) -> Generator[Batch, None, None]:
    """Pages in the plan's order, each starting after the last row of the one before
    (a query per page, held by the database only while it runs)."""
    past, remaining = None, plan.limit
    while remaining is None or remaining > 0:
        size = chunk_size if remaining is None else min(chunk_size, remaining)
        with fast_timestamps(plan.queryset.db):
            batch = list(plan.page(past, size))
        if batch:
            yield batch
        if len(batch) < size:
            return
        past = plan.page_end(batch[-1])
        if remaining is not None:
            remaining -= len(batch)


def row_batches(plan: RowPlan, chunk_size: int | None = None) -> Generator[Batch, None, None]:
    """Batches of value tuples in the plan's order, by the configured engine."""
    chunk_size = chunk_size or conf.CHUNK_SIZE
    read = {"stream": streamed_batches, "cursor": cursor_batches, "keyset": keyset_batches}
    return read[choose_engine(plan.queryset.db)](plan, chunk_size)
