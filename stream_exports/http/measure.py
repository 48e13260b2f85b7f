"""A measure of every stream: one structured record when it ends, however it ends.

:func:`~stream_exports.http.responses.open_stream` wraps every stream's chunks
twice: :func:`counted` below the compressor (bytes before compression) and
:func:`measured` (or :func:`ameasured` for an async stream) above it (bytes on the
wire, time to first byte, how it ended). The record goes to the
``stream_exports.streams`` logger, its message the record as JSON and the record itself
as ``extra["stream"]`` (on Lambda, :mod:`stream_exports.aws.metrics` turns it into
CloudWatch metrics). It never holds a URL, so never a ``sig``.

Exports and downloads are audited too: their record is opened as they open and ended
here with the stream's rows, bytes and outcome (:mod:`stream_exports.audit.trail`).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from ..audit import trail
from ..audit.trail import AuditKind, AuditOutcome, AuditRecord
from ..core.formats.base import Position
from ..core.formats.registry import formats

__all__ = [
    "Stream",
    "StreamOutcome",
    "ameasured",
    "counted",
    "measured",
    "refused_stream",
    "stream_route",
]

logger = logging.getLogger("stream_exports.streams")


class StreamOutcome(enum.StrEnum):
    """How a stream ended, and how that reads in the audit trail."""

    COMPLETE = "complete"
    ERROR = "error"
    CLIENT_GONE = "client_gone"
    REFUSED = "refused"

    @property
    def audited(self) -> AuditOutcome:
        return _AUDITED[self]


_AUDITED = {
    StreamOutcome.COMPLETE: AuditOutcome.COMPLETE,
    StreamOutcome.ERROR: AuditOutcome.FAILED,
    StreamOutcome.CLIENT_GONE: AuditOutcome.CUT,
    StreamOutcome.REFUSED: AuditOutcome.REFUSED,
}

#: Stream routes (URL names) other than the exports, and the kind and format of each.
_JOB_STREAMS = {
    "job-download": ("download", None),
    "job-log": ("log", "text"),
    "job-events": ("events", "sse"),
}


def stream_route(url_name: str | None) -> tuple[str, str | None] | None:
    """(kind, format) of the stream the route ``url_name`` serves; None: not a stream."""
    if url_name in _JOB_STREAMS:
        return _JOB_STREAMS[url_name]
    if any(format.name == url_name for format in formats()):
        return AuditKind.EXPORT, url_name
    return None


@dataclass
class Stream:
    """What is known of one stream, filled in as it runs; :meth:`finish` writes it once."""

    kind: str  #: export, download, log or events (or admin-export)
    format: str | None = None
    dataset: str | None = None
    job: str | None = None
    user: Any = None
    rows: int | None = None
    #: Where an export's rows are counted, and why it failed after its first byte.
    position: Position | None = None
    encoding: str = "identity"
    status: int = 200
    started: float = field(default_factory=time.perf_counter)
    first_byte: float | None = None
    bytes_raw: int = 0
    bytes_wire: int = 0
    lines: int | None = None
    done: bool = False
    #: What was asked (never ``sig``) and the fields sent, for the audit record.
    params: dict[str, Any] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    audit: AuditRecord | None = None

    def open_audit(self, request: HttpRequest, user: Any) -> None:
        """Insert the audit record of an export or download (``trail.AUDITED_STREAMS``)."""
        if self.kind in trail.AUDITED_STREAMS:
            self.audit = trail.record(request, user, **self.audited())

    def audited(self) -> dict[str, Any]:
        """What the stream's audit record says it is."""
        return {
            "kind": self.kind,
            "dataset": self.dataset or "",
            "format": self.format or "",
            "job": self.job,
            "params": self.params,
            "fields": self.fields,
        }

    def finish(self, outcome: StreamOutcome, reason: str | None = None) -> None:
        """Write the record (once): ``outcome`` unless the export says it failed."""
        if self.done:
            return
        self.done = True
        rows = self.rows
        if (at := self.position) is not None:
            rows = at.rows
            if at.error is not None and outcome == StreamOutcome.COMPLETE:
                outcome, reason = StreamOutcome.ERROR, at.error
        ended = time.perf_counter()
        record = {
            "stream": self.kind,
            "dataset": self.dataset,
            "job": self.job,
            "format": self.format,
            "user": self.user,
            "status": self.status,
            "rows": rows,
            "lines": self.lines,
            "bytes": self.bytes_wire,
            "bytes_raw": self.bytes_raw,
            "encoding": self.encoding,
            "ttfb_ms": _ms(self.first_byte - self.started) if self.first_byte else None,
            "duration_ms": _ms(ended - self.started),
            "outcome": outcome,
            "reason": reason,
        }
        write(record)
        if self.audit is not None:
            self._end_audit(outcome, rows, reason)

    def _end_audit(self, outcome: StreamOutcome, rows: int | None, reason: str | None) -> None:
        assert self.audit is not None
        trail.end(
            self.audit,
            outcome.audited,
            rows=rows,
            bytes=self.bytes_wire,
            reason=reason or "",
            status=self.status,
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def write(record: dict[str, Any]) -> None:
    """The record to the ``stream_exports.streams`` logger: as JSON, and as ``extra``."""
    logger.info(json.dumps(record, default=str), extra={"stream": record})


def refused_stream(request: HttpRequest, status: int, reason: str, user: Any) -> Stream | None:
    """The record of a stream refused before its first byte (``status``: its 4xx), written;
    None when the request's route is no stream."""
    match = request.resolver_match
    route = stream_route(match.url_name if match is not None else None)
    if route is None or match is None:
        return None
    kind, format = route
    job = match.kwargs.get("job_id")
    stream = Stream(
        kind,
        format=format,
        dataset=match.kwargs.get("name"),
        job=str(job) if job is not None else None,
        user=getattr(user, "pk", None),
        status=status,
        params=trail.asked(request.GET),
    )
    stream.finish(StreamOutcome.REFUSED, reason)
    return stream


def counted(chunks: Iterator[bytes], stream: Stream) -> Iterator[bytes]:
    """``chunks`` as they are, counted before compression (lines too, for logs and
    events). Closing this closes ``chunks``."""
    try:
        for chunk in chunks:
            stream.bytes_raw += len(chunk)
            if stream.lines is not None:
                stream.lines += chunk.count(b"\n")
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def measured(chunks: Iterator[bytes], stream: Stream) -> Iterator[bytes]:
    """``chunks`` on their way to the wire: counted, the first byte timed, the record
    written when they end (exhausted: complete; closed early: client gone; raised: error)."""
    outcome, reason = StreamOutcome.CLIENT_GONE, None
    try:
        for chunk in chunks:
            if stream.first_byte is None:
                stream.first_byte = time.perf_counter()
            stream.bytes_wire += len(chunk)
            yield chunk
        outcome = StreamOutcome.COMPLETE
    except GeneratorExit:
        raise
    except Exception as exc:
        outcome, reason = StreamOutcome.ERROR, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        stream.finish(outcome, reason)


async def ameasured(chunks: AsyncIterator[bytes], stream: Stream) -> AsyncIterator[bytes]:
    """:func:`measured` for an async stream (ASGI event and log streams); raw bytes are
    the wire's (these are never compressed)."""
    outcome, reason = StreamOutcome.CLIENT_GONE, None
    try:
        async for chunk in chunks:
            if stream.first_byte is None:
                stream.first_byte = time.perf_counter()
            stream.bytes_wire += len(chunk)
            stream.bytes_raw += len(chunk)
            if stream.lines is not None:
                stream.lines += chunk.count(b"\n")
            yield chunk
        outcome = StreamOutcome.COMPLETE
    except (GeneratorExit, asyncio.CancelledError):
        raise
    except Exception as exc:
        outcome, reason = StreamOutcome.ERROR, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        stream.finish(outcome, reason)
