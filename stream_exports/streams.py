"""The NDJSON wire format: record lines, then one trailer line.

The stream is written once, as a plain sync generator of byte chunks. The
async shell drives that same generator from the request's own thread, one
chunk per hop, so under ASGI nothing is buffered and the database connection
never changes thread.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from .encoding import encode_line, encode_rows
from .engine import RowPlan, row_batches
from .pgcopy import copy_batches

logger = logging.getLogger("stream_exports")

_END = object()


#: What a lost database connection raises (restart, failover, network): it may pass.
CONNECTION_LOST = (OperationalError, InterfaceError)


def trailer(rows: int, last: Any) -> bytes:
    """The last line of a whole export: ``{"_stream": {"status": "complete", ...}}``."""
    return encode_line({"_stream": {"status": "complete", "rows": rows, "last": last}})


def error_trailer(exc: BaseException, rows: int, last: Any) -> bytes:
    """The last line of a failed export. ``retry`` is true when the failure is the
    database's connection (restart, failover, network): resuming with ``after=last``
    will get the rest once it is back."""
    body = {
        "status": "error",
        "error": describe_failure(exc),
        "retry": isinstance(exc, CONNECTION_LOST),
        "rows": rows,
        "last": last,
    }
    return encode_line({"_stream": body})


def describe_failure(exc: BaseException) -> str:
    """What the client is told when an export fails after it began."""
    if settings.DEBUG:
        return f"{type(exc).__name__}: {exc}"
    kind = "database error" if isinstance(exc, DatabaseError) else "server error"
    return f"export failed ({kind}, {type(exc).__name__}); the server log has the cause"


def ndjson_chunks(
    plan: RowPlan, names: tuple[str, ...], *, with_trailer: bool = True, label: str = "export"
) -> Iterator[bytes]:
    """Encoded record lines, a batch per chunk, then the trailer.

    A failure after the first byte becomes an error trailer (and a log entry);
    the HTTP status is long gone by then.
    """
    rows, last = 0, None
    try:
        # closing(): a failure here must end the query now, not when collected.
        with closing(copy_batches(plan, names) or encoded_batches(plan, names)) as batches:
            for chunk, count, last_cursor in batches:
                rows += count
                last = last_cursor
                yield chunk
    except Exception as exc:
        logger.exception("%s failed after %d rows (last cursor %r)", label, rows, last)
        if with_trailer:
            yield error_trailer(exc, rows, last)
        return
    if with_trailer:
        yield trailer(rows, last)


def encoded_batches(plan: RowPlan, names: tuple[str, ...]) -> Iterator[tuple[bytes, int, Any]]:
    """The ORM path: (lines, how many, last cursor) per batch of rows."""
    index = plan.cursor_index
    with closing(row_batches(plan)) as batches:
        for batch in batches:
            yield encode_rows(names, batch, plan.json_columns), len(batch), batch[-1][index]


def _next_chunk(chunks: Iterator[bytes]) -> Any:
    return next(chunks, _END)


async def in_request_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Serve a sync chunk generator to an ASGI server without buffering it.

    Each ``next()`` runs in the request's thread-sensitive thread, where the
    view ran and the database connection lives. When the client hangs up the
    task is cancelled here (or this generator is closed); either way the sync
    generator is closed in that same thread, which ends the query and the
    transaction before the connection is released.
    """
    step = sync_to_async(_next_chunk, thread_sensitive=True)
    try:
        while (chunk := await step(chunks)) is not _END:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()
