"""A measure of every stream: one structured record when it ends, however it ends.

:func:`~stream_exports.http.responses.open_stream` wraps every stream's chunks
twice: :func:`counted` below the compressor (bytes before compression, the last
chunk for the trailer) and :func:`measured` (or :func:`ameasured` for an async
stream) above it (bytes on the wire, time to first byte, how it ended). The
record goes to the ``stream_exports.streams`` logger, its message the record as
JSON; on Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) to stdout in CloudWatch
embedded metric format instead. It never holds a URL, so never a ``sig``.

Exports and downloads are audited too (:mod:`~stream_exports.http.audit`): their
record is inserted as they open and ended here with the stream's rows, bytes and outcome;
a refused one gets a record of its own, and so does a refused job start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest

from ..core.ndjson import Position, parse_trailer
from ..models import JOB_START, AuditRecord, Outcome
from . import audit

__all__ = [
    "CLIENT_GONE",
    "COMPLETE",
    "ERROR",
    "NAMESPACE",
    "REFUSED",
    "Stream",
    "ameasured",
    "counted",
    "emf",
    "measured",
    "refused",
]

logger = logging.getLogger("stream_exports.streams")

COMPLETE, ERROR, CLIENT_GONE, REFUSED = "complete", "error", "client_gone", "refused"

#: The CloudWatch namespace of the metrics written on Lambda.
NAMESPACE = "StreamExports"

#: How a stream's end reads in the audit trail.
AUDIT_OUTCOMES = {
    COMPLETE: Outcome.COMPLETE,
    ERROR: Outcome.FAILED,
    CLIENT_GONE: Outcome.CUT,
    REFUSED: Outcome.REFUSED,
}

#: Routes that start a job: audited when refused, though not a stream.
JOB_STARTS = ("jobs",)

#: Stream routes (URL names) and the kind of stream each serves, for refusals.
ROUTES = {
    "ndjson": ("export", "ndjson"),
    "csv": ("export", "csv"),
    "job-download": ("download", None),
    "job-log": ("log", "text"),
    "job-events": ("events", "sse"),
}


@dataclass
class Stream:
    """What is known of one stream, filled in as it runs; :meth:`finish` writes it once."""

    kind: str  #: export, download, log or events (or admin-export)
    format: str | None = None
    dataset: str | None = None
    job: str | None = None
    user: Any = None
    rows: int | None = None
    #: Where an export's rows are counted (its trailer, if any, wins).
    position: Position | None = None
    encoding: str = "identity"
    status: int = 200
    started: float = field(default_factory=time.perf_counter)
    first_byte: float | None = None
    bytes_raw: int = 0
    bytes_wire: int = 0
    lines: int | None = None
    last_raw: bytes = b""
    done: bool = False
    #: What was asked (never ``sig``) and the fields sent, for the audit record.
    params: dict[str, Any] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    audit: AuditRecord | None = None

    def open_audit(self, request: HttpRequest, user: Any) -> None:
        """Insert the audit record of an export or download (:data:`audit.AUDITED`)."""
        if self.kind in audit.AUDITED:
            self.audit = audit.start(request, user, **self.audited())

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

    def finish(self, outcome: str, reason: str | None = None) -> None:
        """Write the record (once): ``outcome`` unless the trailer says the export failed."""
        if self.done:
            return
        self.done = True
        rows = self.rows
        if self.position is not None:
            rows = self.position.rows
        if self.format == "ndjson" and (end := parse_trailer(self.last_raw)) is not None:
            rows = end.rows
            if not end.complete and outcome == COMPLETE:
                outcome, reason = ERROR, end.error
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

    def _end_audit(self, outcome: str, rows: int | None, reason: str | None) -> None:
        assert self.audit is not None
        try:
            self.audit.end(
                AUDIT_OUTCOMES[outcome],
                rows=rows,
                bytes=self.bytes_wire,
                reason=reason or "",
                status=self.status,
            )
        except DatabaseError:
            logger.exception("the audit record %s could not be ended", self.audit.pk)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def on_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def emf(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` in CloudWatch embedded metric format: TTFB, Duration, Bytes and Rows
    as metrics (those it has), by dataset, format and outcome."""
    values = {
        "TTFB": (record["ttfb_ms"], "Milliseconds"),
        "Duration": (record["duration_ms"], "Milliseconds"),
        "Bytes": (record["bytes"], "Bytes"),
        "Rows": (record["rows"], "Count"),
    }
    present = {name: pair for name, pair in values.items() if pair[0] is not None}
    dimensions = {
        "dataset": str(record["dataset"] or "-"),
        "format": str(record["format"] or "-"),
        "outcome": record["outcome"],
    }
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": n, "Unit": unit} for n, (_, unit) in present.items()],
                }
            ],
        },
        **record,
        **dimensions,
        **{name: value for name, (value, _) in present.items()},
    }


def write(record: dict[str, Any]) -> None:
    """The record to the ``stream_exports.streams`` logger, or on Lambda as EMF on stdout."""
    if on_lambda():
        sys.stdout.write(json.dumps(emf(record), default=str) + "\n")
        sys.stdout.flush()
        return
    logger.info(json.dumps(record, default=str), extra={"stream": record})


def refused(request: HttpRequest, status: int, reason: str, user: Any = None) -> None:
    """The record of a stream refused before its first byte (``status``: its 4xx), and
    the audit record of a refused export, download or job start."""
    match = request.resolver_match
    name = match.url_name if match is not None else None
    ended = {"outcome": Outcome.REFUSED, "status": status, "reason": reason}
    params = audit.asked(request.GET)
    if name in JOB_STARTS and match is not None:
        dataset = match.kwargs.get("name", "")
        audit.start(request, user, kind=JOB_START, dataset=dataset, params=params, **ended)
    if name not in ROUTES:
        return  # not a stream (job status, job start, cancel)
    assert match is not None and name is not None
    kind, format = ROUTES[name]
    job = match.kwargs.get("job_id")
    stream = Stream(
        kind,
        format=format,
        dataset=match.kwargs.get("name"),
        job=str(job) if job is not None else None,
        user=getattr(user, "pk", None),
        status=status,
        params=params,
    )
    if kind in audit.AUDITED:
        audit.start(request, user, **stream.audited(), **ended)
    stream.finish(REFUSED, reason)


def counted(chunks: Iterator[bytes], stream: Stream) -> Iterator[bytes]:
    """``chunks`` as they are, counted before compression (lines too, for logs and
    events); the last one kept for its trailer. Closing this closes ``chunks``."""
    try:
        for chunk in chunks:
            stream.bytes_raw += len(chunk)
            if stream.lines is not None:
                stream.lines += chunk.count(b"\n")
            stream.last_raw = chunk
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def measured(chunks: Iterator[bytes], stream: Stream) -> Iterator[bytes]:
    """``chunks`` on their way to the wire: counted, the first byte timed, the record
    written when they end (exhausted: complete; closed early: client gone; raised: error)."""
    outcome, reason = CLIENT_GONE, None
    try:
        for chunk in chunks:
            if stream.first_byte is None:
                stream.first_byte = time.perf_counter()
            stream.bytes_wire += len(chunk)
            yield chunk
        outcome = COMPLETE
    except GeneratorExit:
        raise
    except Exception as exc:
        outcome, reason = ERROR, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        stream.finish(outcome, reason)


async def ameasured(chunks: AsyncIterator[bytes], stream: Stream) -> AsyncIterator[bytes]:
    """:func:`measured` for an async stream (ASGI event and log streams); raw bytes are
    the wire's (these are never compressed)."""
    outcome, reason = CLIENT_GONE, None
    try:
        async for chunk in chunks:
            if stream.first_byte is None:
                stream.first_byte = time.perf_counter()
            stream.bytes_wire += len(chunk)
            stream.bytes_raw += len(chunk)
            if stream.lines is not None:
                stream.lines += chunk.count(b"\n")
            yield chunk
        outcome = COMPLETE
    except (GeneratorExit, asyncio.CancelledError):
        raise
    except Exception as exc:
        outcome, reason = ERROR, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        stream.finish(outcome, reason)
