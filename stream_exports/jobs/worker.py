"""Running a job: claim it, write the same NDJSON as the live stream to storage, finish it.

The export reads in the job's thread; a ``Progress`` thread writes the counts,
events, heartbeats and cancel checks from a connection of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

from django.db import connections
from django.utils import timezone
from django.utils.http import content_disposition_header

from ..conf import conf
from ..core.formats import MEDIA_TYPES, export_chunks
from ..core.ndjson import Position, describe_failure, parse_trailer
from ..core.plan import RowPlan
from ..core.query import NDJSON, ExportQuery
from ..models import ExportJob, Status, job_storage
from .files import GZIP, GzipWriter, JobFile, open_sink
from .lifecycle import finish, log, query_for, record_event
from .sources import source_rows

__all__ = ["Progress", "run_job"]

logger = logging.getLogger("stream_exports")


def _claim(job_id: Any) -> ExportJob | None:
    """Take a queued job (once, whoever races for it) and mark it running."""
    now = timezone.now()
    worker = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    claimed = ExportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker
    )
    return ExportJob.objects.get(pk=job_id) if claimed else None


class Progress(threading.Thread):
    """Writes a running job's progress, heartbeats and cancel checks from its own connection.

    The export reads in the job's thread, inside a transaction on PostgreSQL
    (and a read snapshot on SQLite): progress written there would stay unseen
    until the end. So the reader only sets ``rows``/``bytes``; this thread
    writes them every JOB_PROGRESS_INTERVAL and beats every JOB_HEARTBEAT.
    """

    def __init__(self, job: ExportJob) -> None:
        super().__init__(daemon=True, name=f"progress-{job.pk}")
        self.job = ExportJob.objects.get(pk=job.pk)
        self.rows = self.bytes = 0
        #: Where another process would continue the job (``jobs.files``), saved with the counts.
        self.checkpoint: dict[str, Any] | None = None
        self.stopped = threading.Event()
        self.cancelled = threading.Event()

    def run(self) -> None:
        try:
            last_beat = last_log = started = time.monotonic()
            while not self.stopped.wait(conf.JOB_PROGRESS_INTERVAL):
                now = time.monotonic()
                if self.flush() or now - last_beat >= conf.JOB_HEARTBEAT:
                    self.beat()
                    last_beat = now
                if now - last_log >= conf.JOB_LOG_INTERVAL:
                    self.log_rate(now - started)
                    last_log = now
            self.flush()
        finally:
            connections.close_all()

    def beat(self) -> None:
        ExportJob.objects.filter(pk=self.job.pk, status=Status.RUNNING).update(
            heartbeat_at=timezone.now()
        )
        if ExportJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            self.cancelled.set()

    def flush(self) -> bool:
        """Write the counts and a progress event if they changed; True if they did."""
        job = self.job
        checkpoint = self.checkpoint
        if checkpoint is not None and checkpoint != job.checkpoint:
            job.checkpoint = checkpoint
            ExportJob.objects.filter(pk=job.pk).update(checkpoint=job.checkpoint)
        if (self.rows, self.bytes) == (job.rows, job.bytes):
            return False
        job.rows, job.bytes = self.rows, self.bytes
        ExportJob.objects.filter(pk=job.pk).update(rows=job.rows, bytes=job.bytes)
        record_event(job, "progress")
        return True

    def log_rate(self, elapsed: float) -> None:
        """A progress line for the log: rows, share of the total, size, rate."""
        job = self.job
        share = f" of {job.total} ({100 * job.rows / job.total:.0f} %)" if job.total else ""
        rate = job.rows / elapsed if elapsed else 0.0
        log(job, f"{job.rows} rows{share}, {job.bytes / 1e6:.1f} MB, {rate:,.0f} rows/s")

    def finish(self) -> None:
        """Stop after a last flush."""
        self.stopped.set()
        self.join()


def open_job_file(job: ExportJob) -> JobFile:
    """The job's file in storage, new or continued from the job's checkpoint."""
    saved = job.checkpoint.get("file") or {}
    gzip = conf.JOB_FILE_GZIP if not saved else saved.get("gzip") is not None
    name = saved.get("name") or f"stream_exports/{job.pk}.{job.format}" + (".gz" if gzip else "")
    headers = {
        "ContentType": MEDIA_TYPES[job.format],
        "ContentDisposition": content_disposition_header(True, download_name(job)) or "",
        **({"ContentEncoding": GZIP} if gzip else {}),
    }
    sink = open_sink(job_storage(), name, headers, saved.get("sink"))
    writer = None
    if gzip:
        state = saved.get("gzip") or {}
        writer = GzipWriter(conf.GZIP_LEVEL, state.get("crc", 0), state.get("size", 0))
    return JobFile(sink, writer, saved.get("stored", 0))


def download_name(job: ExportJob) -> str:
    """The name a job's file is downloaded as."""
    return f"{job.dataset}-{job.pk}.{job.format}"


@dataclass
class Slice:
    """One run of a job in one process: how far it may go before it checkpoints."""

    ends_at: float | None  # time.monotonic(); None: runs to the end

    @classmethod
    def until(cls, deadline: float | None) -> Slice:
        """A slice that ends JOB_SLICE_SECONDS from now, or JOB_SLICE_MARGIN before
        ``deadline`` (epoch seconds: a Lambda invocation's), whichever comes first."""
        ends = []
        if conf.JOB_SLICE_SECONDS > 0:
            ends.append(time.monotonic() + conf.JOB_SLICE_SECONDS)
        if deadline is not None:
            ends.append(time.monotonic() + deadline - time.time() - conf.JOB_SLICE_MARGIN)
        return cls(min(ends) if ends else None)

    @property
    def over(self) -> bool:
        return self.ends_at is not None and time.monotonic() >= self.ends_at


def _checkpoint(at: Position, progress: Progress, file: dict[str, Any]) -> dict[str, Any]:
    """Where the job is: rows, last cursor and bytes written, and its file's state."""
    return {"rows": at.rows, "last": at.last, "bytes": progress.bytes, "file": file}


def _write(
    chunks: Iterator[bytes],
    out: JobFile,
    progress: Progress,
    at: Position,
    part: Slice,
    ending: Ending,
) -> tuple[str, str]:
    """Write chunks, counting progress and a checkpoint per stored part (the progress
    thread saves them: this thread reads inside a transaction); return how the file
    ended (the NDJSON trailer's status and error, or ``ending``'s), ``cancelled``, or
    ``continued`` when the slice ended."""
    last_line = b""
    for chunk in chunks:
        state = out.write(chunk)
        last_line = chunk.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        progress.bytes += len(chunk)
        if progress.job.format == NDJSON and parse_trailer(last_line) is not None:
            break
        progress.rows = at.rows
        if state is not None:
            progress.checkpoint = _checkpoint(at, progress, state)
        if progress.cancelled.is_set():
            return "cancelled", ""
        if part.over and (state := out.checkpoint()) is not None:
            progress.checkpoint = _checkpoint(at, progress, state)
            return "continued", ""
    if progress.job.format != NDJSON:
        return ending.status, ending.error
    end = parse_trailer(last_line)
    return (end.status, end.error) if end is not None else ("error", "")


def run_job(job_id: Any, deadline: float | None = None) -> bool:
    """Run a queued job in this process, to its end or (``deadline``, JOB_SLICE_SECONDS)
    to a checkpoint; True when it was queued again from there (its runner submits it
    again). Never raises for a failed export."""
    job = _claim(job_id)
    if job is None:
        logger.info("job %s was not queued (already taken or gone)", job_id)
        return False
    try:
        return _run(job, Slice.until(deadline))
    except Exception as exc:
        logger.exception("job %s failed", job.pk)
        finish(job, Status.FAILED, f"{type(exc).__name__}: {exc}")
        return False


def job_plan(job: ExportJob) -> tuple[RowPlan, ExportQuery]:
    """What ``job`` reads (its dataset's rows, or its source's), and its query."""
    dataset, query = query_for(job)
    if job.source:
        rows = source_rows(job.source, job.owner)
        return RowPlan.in_queryset_order(dataset, rows, query.fields), query
    return query.row_plan(job.owner), query


@dataclass
class Ending:
    """How a CSV file's chunks ended (NDJSON says it in its trailer)."""

    status: str = "complete"
    error: str = ""


def job_chunks(
    job: ExportJob, plan: RowPlan, query: ExportQuery, at: Position, ending: Ending
) -> Generator[bytes, None, None]:
    """The job's file as it is made: NDJSON with its trailer, or CSV (a continued one
    without a second header) whose failure is told through ``ending``."""
    chunks = export_chunks(
        job.format,
        plan,
        query.fields,
        label=f"job {job.pk}",
        bom=query.bom,
        header=not job.checkpoint,
        position=at,
    )
    try:
        yield from chunks
    except Exception as exc:  # (NDJSON turns its failures into its trailer)
        ending.status, ending.error = "error", describe_failure(exc)


def _run(job: ExportJob, part: Slice) -> bool:
    plan, query = job_plan(job)
    limit = query.limit
    saved = job.checkpoint
    at = Position(rows=saved.get("rows", 0), last=saved.get("last"))
    if saved:
        remaining = None if limit is None else limit - at.rows
        plan = replace(plan, after=at.last, limit=remaining)
        log(job, f"continuing after {at.rows} rows (cursor {at.last!r}) in a new run")
    else:
        if conf.JOB_COUNT_TOTAL:
            total = plan.queryset.count()
            job.total = min(total, limit) if limit else total
            job.save(update_fields=["total"])
        log(job, f"running: {job.total if job.total is not None else 'unknown'} rows to write")
    record_event(job, "progress")
    progress = Progress(job)
    progress.rows, progress.bytes = at.rows, saved.get("bytes", 0)
    progress.start()
    ending = Ending()
    chunks = job_chunks(job, plan, query, at, ending)
    out: JobFile | None = None
    try:
        with closing(chunks):
            out = open_job_file(job)
            if (state := out.opened()) is not None:
                progress.checkpoint = _checkpoint(at, progress, state)
            status, error = _write(chunks, out, progress, at, part, ending)
    except OSError as exc:
        status, error = "error", f"could not write the export file: {exc}"
    except Exception as exc:  # the storage's own errors (S3's ClientError, ...)
        logger.exception("job %s: writing its file failed", job.pk)
        status, error = "error", f"could not write the export file: {type(exc).__name__}: {exc}"
    finally:
        progress.finish()
    job.rows, job.bytes = progress.rows, progress.bytes
    if status == "continued":
        requeue(job)
        return True
    _end(job, out, status, error)
    return False


def _end(job: ExportJob, out: JobFile | None, status: str, error: str) -> None:
    """Store the file and succeed, or drop it and fail (or cancel)."""
    if status == "complete" and out is not None:
        try:
            out.save()
        except OSError as exc:
            status, error = "error", f"could not write the export file: {exc}"
        else:
            job.file.name = out.sink.name
            finish(job, Status.SUCCEEDED)
            return
    if out is not None:
        with contextlib.suppress(Exception):  # (the job's failure is what matters)
            out.discard()
        job.checkpoint = {}  # (dropped: nothing for finish() to abandon)
    if status == "cancelled":
        finish(job, Status.CANCELLED, "cancelled on request")
    else:
        finish(job, Status.FAILED, error or "the export stopped without a trailer")


def requeue(job: ExportJob) -> None:
    """Queue ``job`` again from its checkpoint (its runner submits it again)."""
    log(job, f"slice ended after {job.rows} rows; continuing from the checkpoint")
    ExportJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
        status=Status.QUEUED, rows=job.rows, bytes=job.bytes, worker=""
    )
