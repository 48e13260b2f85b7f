"""The NDJSON wire format: record lines, then one trailer line, written and read here.

The stream is written once, as a plain sync generator of byte chunks; the
HTTP layer serves it under WSGI as it is and under ASGI from the request's
own thread (``stream_exports.http.responses``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from .encoding import encode_line, encode_rows
from .pgcopy import copy_batches
from .plan import RowPlan
from .readers import row_batches

__all__ = [
    "CONNECTION_LOST",
    "MEDIA_TYPE",
    "Position",
    "Trailer",
    "describe_failure",
    "error_trailer",
    "ndjson_chunks",
    "parse_trailer",
    "trailer",
]

logger = logging.getLogger("stream_exports")

#: The media type of an export.
MEDIA_TYPE = "application/x-ndjson; charset=utf-8"

#: What a lost database connection raises (restart, failover, network): it may pass.
CONNECTION_LOST = (OperationalError, InterfaceError)

#: How every trailer line begins (and no record line can: records are the dataset's fields).
TRAILER_KEY = "_stream"


@dataclass(frozen=True)
class Trailer:
    """What the last line of an export says: ``complete``, or ``error`` with why."""

    status: str
    rows: int
    last: Any
    error: str = ""
    retry: bool = False

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def trailer(rows: int, last: Any) -> bytes:
    """The last line of a whole export: ``{"_stream": {"status": "complete", ...}}``."""
    return encode_line({TRAILER_KEY: {"status": "complete", "rows": rows, "last": last}})


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
    return encode_line({TRAILER_KEY: body})


def parse_trailer(line: bytes) -> Trailer | None:
    """The trailer ``line`` is, or None for a record line (or anything else)."""
    if not line.startswith(b'{"' + TRAILER_KEY.encode() + b'"'):
        return None
    try:
        body = json.loads(line)[TRAILER_KEY]
        return Trailer(
            status=str(body["status"]),
            rows=int(body.get("rows", 0)),
            last=body.get("last"),
            error=str(body.get("error") or ""),
            retry=bool(body.get("retry", False)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def describe_failure(exc: BaseException) -> str:
    """What the client is told when an export fails after it began."""
    if settings.DEBUG:
        return f"{type(exc).__name__}: {exc}"
    kind = "database error" if isinstance(exc, DatabaseError) else "server error"
    return f"export failed ({kind}, {type(exc).__name__}); the server log has the cause"


@dataclass
class Position:
    """How far an export has come: rows sent and the cursor of the last one.

    An export continued elsewhere (a job's next slice) starts from where the last
    one stopped, so its trailer counts every row."""

    rows: int = 0
    last: Any = None


def ndjson_chunks(
    plan: RowPlan,
    names: tuple[str, ...],
    *,
    with_trailer: bool = True,
    label: str = "export",
    position: Position | None = None,
) -> Generator[bytes, None, None]:
    """Encoded record lines, a batch per chunk, then the trailer; ``position`` (if given)
    is where the rows start counting and is kept up to date as each chunk leaves.

    A failure after the first byte becomes an error trailer (and a log entry);
    the HTTP status is long gone by then.
    """
    at = position if position is not None else Position()
    try:
        # closing(): a failure here must end the query now, not when collected.
        with closing(copy_batches(plan, names) or encoded_batches(plan, names)) as batches:
            for chunk, count, last_cursor in batches:
                at.rows += count
                at.last = last_cursor
                yield chunk
    except Exception as exc:
        logger.exception("%s failed after %d rows (last cursor %r)", label, at.rows, at.last)
        if with_trailer:
            yield error_trailer(exc, at.rows, at.last)
        return
    if with_trailer:
        yield trailer(at.rows, at.last)


def encoded_batches(
    plan: RowPlan, names: tuple[str, ...]
) -> Generator[tuple[bytes, int, Any], None, None]:
    """The ORM path: (lines, how many, last cursor) per batch of rows."""
    index = plan.cursor_index
    with closing(row_batches(plan)) as batches:
        for batch in batches:
            yield encode_rows(names, batch, plan.json_columns), len(batch), batch[-1][index]
