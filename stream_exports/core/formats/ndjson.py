"""NDJSON: a JSON object per record line, then one trailer line, written and read here.

The trailer says the download is whole (``complete``, with the rows and the last
cursor) or that it failed after it began (``error``, with why and whether a retry with
``after=last`` will get the rest); a consumer that sees none knows it was cut. Rows come
written by the database where every field allows it (PostgreSQL's ``COPY``,
``core.pgcopy``; MariaDB's keyset pages of lines, ``core.mariadb``), else from the
readers, encoded by ``core.encoding``.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from ..encoding import encode_line, encode_rows
from ..errors import CONNECTION_LOST
from ..mariadb import line_batches
from ..pgcopy import copy_batches
from ..plan import RowPlan
from ..readers import row_batches
from .base import Content, Format, Position, describe_failure, failed

__all__ = ["MEDIA_TYPE", "NDJSON", "Trailer", "error_trailer", "parse_trailer", "trailer"]

#: The media type of an NDJSON export.
MEDIA_TYPE = "application/x-ndjson; charset=utf-8"

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


def error_trailer(exc: BaseException, rows: int, last: Any, error: str | None = None) -> bytes:
    """The last line of an export that failed with ``exc`` (``error``: what the client is
    told; default: :func:`describe_failure`'s). ``retry`` is true when the failure is the
    database's connection (restart, failover, network): resuming with ``after=last`` will
    get the rest once it is back."""
    body = {
        "status": "error",
        "error": describe_failure(exc) if error is None else error,
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


class NDJSON(Format):
    """A record per line, then the trailer (unless ``trailer=0``)."""

    name = "ndjson"
    title = "NDJSON"
    media_type = MEDIA_TYPE
    extension = "ndjson"
    description = "One line per row, then a trailer line (see `trailer`)."
    line_per_record = True
    options = ("trailer",)

    def chunks(self, content: Content, position: Position) -> Generator[bytes, None, None]:
        """Record lines, a batch per chunk, then the trailer. A failure after the first
        byte becomes an error trailer (and a log entry); the HTTP status is long gone."""
        plan, names, at = content.plan, content.names, position
        with_trailer = content.options.trailer
        try:
            # closing(): a failure here must end the query now, not when collected.
            with closing(database_lines(plan, names) or encoded_batches(plan, names)) as batches:
                for chunk, count, last_cursor in batches:
                    at.rows += count
                    at.last = last_cursor
                    yield chunk
        except Exception as exc:
            failed(content, at, exc)
            if with_trailer:
                yield error_trailer(exc, at.rows, at.last, at.error)
            return
        if with_trailer:
            yield trailer(at.rows, at.last)


def database_lines(
    plan: RowPlan, names: tuple[str, ...]
) -> Generator[tuple[bytes, int, Any], None, None] | None:
    """Lines the database writes where every field allows it: PostgreSQL's ``COPY``,
    MariaDB's ``CONCAT`` in keyset pages; None elsewhere."""
    return copy_batches(plan, names) or line_batches(plan, names)


def encoded_batches(
    plan: RowPlan, names: tuple[str, ...]
) -> Generator[tuple[bytes, int, Any], None, None]:
    """The ORM path: (lines, how many, last cursor) per batch of rows."""
    index = plan.cursor_index
    with closing(row_batches(plan)) as batches:
        for batch in batches:
            yield encode_rows(names, batch, plan.json_columns), len(batch), batch[-1][index]
