"""Running a job: claim it, write its export to storage as it is made, finish it (or hand it
on from a checkpoint to a next run).

The export reads in the job's thread; a ``Progress`` thread writes the counts,
events, heartbeats and cancel checks from a connection of its own.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.utils import timezone
from django.utils.http import content_disposition_header

from ..conf import conf
from ..core.datasets import registry
from ..core.errors import Refusal
from ..core.exports import Export
from ..core.formats.base import Position, describe_failure
from ..core.formats.registry import get_format
from ..core.plan import RowPlan
from .checkpoint import Checkpoint, FileState
from .files import GZIP, GzipWriter, JobFile, open_sink
from .lifecycle import JobError, finish, log, query_for, record_event
from .models import ExportJob, JobStatus, job_storage
from .sources import UnknownSource, source_rows

__all__ = [
    "Progress",
    "RunEnd",
    "claim",
    "counted_rows",
    "file_headers",
    "job_export",
    "job_failed",
    "run_claimed",
    "run_job",
]

logger = logging.getLogger("stream_exports")

#: What a job's owner is told when its file could not be written (the log has why).
WRITE_FAILED = "could not write the export file"
#: Failures whose message is written for the job's owner (others: only their kind).
SAID_AS_IS = (JobError, UnknownSource, Refusal)


class RunEnd(enum.Enum):
    """How one run of a job ended."""

    COMPLETE = "complete"  #: the whole file is written
    FAILED = "failed"  #: the export or the file failed
    CANCELLED = "cancelled"  #: its owner cancelled it
    CONTINUED = "continued"  #: its slice ended at a checkpoint; a next run goes on


def worker_name() -> str:
    """Who runs a job or partition here: ``host:pid:thread``."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def claim(job_id: Any) -> ExportJob | None:
    """Take a queued job (once, whoever races for it) and mark it running."""
    now = timezone.now()
    worker = worker_name()
    claimed = ExportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker
    )
    return ExportJob.objects.get(pk=job_id) if claimed else None


class Progress(threading.Thread):
    """Writes a running job's progress, heartbeats and cancel checks from its own connection.

    The export reads in the job's thread, inside a transaction on PostgreSQL
    (and a read snapshot on SQLite): progress written there would stay unseen
    until the end. So the reader only sets ``rows``/``bytes`` and the checkpoint; this
    thread writes them every JOB_PROGRESS_INTERVAL and beats every JOB_HEARTBEAT.
    """

    def __init__(self, job: ExportJob, start: Checkpoint) -> None:
        super().__init__(daemon=True, name=f"progress-{job.pk}")
        self.job = ExportJob.objects.get(pk=job.pk)
        self.rows, self.bytes = start.rows, start.bytes
        #: Where another process would continue the job, saved with the counts.
        self.checkpoint: Checkpoint | None = None
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
        ExportJob.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING).update(
            heartbeat_at=timezone.now()
        )
        if ExportJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            self.cancelled.set()

    def save(self, at: Position, file: FileState) -> None:
        """Keep where the job is, for :meth:`flush` to store."""
        self.checkpoint = Checkpoint(at.rows, at.last, self.bytes, file)

    def flush(self) -> bool:
        """Write the counts and a progress event if they changed; True if they did."""
        job = self.job
        if self.checkpoint is not None and (saved := self.checkpoint.as_json()) != job.checkpoint:
            job.checkpoint = saved
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


def download_name(job: ExportJob) -> str:
    """The name a job's file is downloaded as."""
    return f"{job.dataset}-{job.pk}.{get_format(job.format).extension}"


def new_file_name(job: ExportJob) -> tuple[str, bool]:
    """A new job file's name, and whether it is gzipped (``JOB_FILE_GZIP``, and a format
    that may be compressed: an XLSX is a zip already)."""
    format = get_format(job.format)
    gzip = conf.JOB_FILE_GZIP and format.compressible
    return f"stream_exports/{job.pk}.{format.extension}{'.gz' if gzip else ''}", gzip


def file_headers(job: ExportJob, gzip: bool) -> dict[str, str]:
    """What the job's file is stored with: its type, download name and encoding."""
    format = get_format(job.format)
    return {
        "ContentType": format.media_type,
        "ContentDisposition": content_disposition_header(True, download_name(job)) or "",
        **({"ContentEncoding": GZIP} if gzip else {}),
    }


def open_job_file(job: ExportJob, saved: FileState | None) -> JobFile:
    """The job's file in storage, new or continued from its saved state."""
    name, gzip = new_file_name(job)
    if saved is not None:
        name, gzip = saved.name, saved.gzip is not None
    headers = file_headers(job, gzip)
    sink = open_sink(job_storage(), name, headers, saved.sink if saved is not None else None)
    writer = None
    if gzip:
        state = (saved.gzip if saved is not None else None) or {}
        writer = GzipWriter(conf.GZIP_LEVEL, state.get("crc", 0), state.get("size", 0))
    return JobFile(sink, writer, saved.stored if saved is not None else 0)


@dataclass
class Slice:
    """One run of a job in one process: how far it may go before it checkpoints."""

    ends_at: float | None  # time.monotonic(); None: runs to the end

    @classmethod
    def until(cls, deadline: float | None, sliced: bool = True) -> Slice:
        """A slice that ends JOB_SLICE_SECONDS from now (unless not ``sliced``: a format
        that cannot be continued), or JOB_SLICE_MARGIN before ``deadline`` (epoch seconds:
        a Lambda invocation's), whichever comes first."""
        ends = []
        if conf.JOB_SLICE_SECONDS > 0 and sliced:
            ends.append(time.monotonic() + conf.JOB_SLICE_SECONDS)
        if deadline is not None:
            ends.append(time.monotonic() + deadline - time.time() - conf.JOB_SLICE_MARGIN)
        return cls(min(ends) if ends else None)

    @property
    def over(self) -> bool:
        return self.ends_at is not None and time.monotonic() >= self.ends_at


def _write(
    export: Export,
    chunks: Iterator[bytes],
    out: JobFile,
    progress: Progress,
    at: Position,
    part: Slice,
) -> RunEnd:
    """Write chunks, counting progress and a checkpoint per stored part (the progress
    thread saves them: this thread reads inside a transaction); say how the run ended.
    A format that cannot be continued fails at its slice's end (a Lambda deadline)."""
    continuable = export.format.continuable
    for chunk in chunks:
        state = out.write(chunk)
        progress.bytes += len(chunk)
        progress.rows = at.rows
        if state is not None:
            progress.save(at, state)
        if at.failed:
            break  # (NDJSON: its error trailer is written; the file is not kept)
        if progress.cancelled.is_set():
            return RunEnd.CANCELLED
        if part.over and not continuable:
            at.error = (
                f"{export.format.title} files are written in one run, and this run's time "
                f"was up after {at.rows} rows; export fewer rows, or CSV, which runs on"
            )
            return RunEnd.FAILED
        if part.over and (state := out.checkpoint()) is not None:
            progress.save(at, state)
            return RunEnd.CONTINUED
    return RunEnd.FAILED if at.failed else RunEnd.COMPLETE


def run_job(job_id: Any, deadline: float | None = None) -> bool:
    """Run a queued job in this process, to its end or (``deadline``, JOB_SLICE_SECONDS)
    to a checkpoint; True when it was queued again from there (its runner submits it
    again). Never raises for a failed export."""
    job = claim(job_id)
    if job is None:
        logger.info("job %s was not queued (already taken or gone)", job_id)
        return False
    return run_claimed(job, deadline)


#: Runs a claimed job as partitions when it is split, True when it did (jobs.partitions).
Coordinate = Callable[[ExportJob, Export], bool]


def run_claimed(
    job: ExportJob, deadline: float | None = None, coordinate: Coordinate | None = None
) -> bool:
    """:func:`run_job` for a job this process claimed; ``coordinate`` is offered the job
    once its owner's right is checked and its export built."""
    try:
        with timezone.override(None):  # (no request's zone: a job writes in TIME_ZONE)
            return _run(job, deadline, coordinate)
    except Exception as exc:
        job_failed(job, exc)
        return False


def job_failed(job: ExportJob, exc: Exception) -> None:
    """Fail ``job`` for ``exc``: its message for its owner if it is one of ours, else its
    kind (the log has the rest)."""
    logger.error("job %s failed", job.pk, exc_info=exc)
    told = str(exc) if isinstance(exc, SAID_AS_IS) else describe_failure(exc, "the job failed")
    finish(job, JobStatus.FAILED, told)


def job_export(job: ExportJob) -> Export:
    """What ``job`` writes: its dataset's rows as its query says, or its source's rows."""
    dataset, query = query_for(job)
    label = f"job {job.pk}"
    if job.source:
        rows = source_rows(job.source, job.owner)
        return Export.of_rows(dataset, rows, query.fields, query.format, query.write, label)
    return Export.of_query(query, job.owner, label)


def may_still_run(job: ExportJob) -> str:
    """Why ``job`` may not run now, or ``""``: its owner must still be active and allowed
    to export its dataset when it starts and at each continuation."""
    dataset = registry.get(job.dataset)
    if dataset is not None and not dataset.has_permission(job.owner):
        return f"its owner may no longer export dataset {job.dataset!r}."
    return ""


def counted_rows(plan: RowPlan) -> int:
    """The rows ``plan`` reads: its queryset's count, at most its limit."""
    total = int(plan.queryset.count())
    return total if plan.limit is None else min(total, plan.limit)


def _run(job: ExportJob, deadline: float | None, coordinate: Coordinate | None) -> bool:
    if refused := may_still_run(job):
        finish(job, JobStatus.FAILED, refused)  # (a continued one's upload is abandoned)
        return False
    export = job_export(job)
    if coordinate is not None and coordinate(job, export):
        return False
    part = Slice.until(deadline, sliced=export.format.continuable)
    saved = Checkpoint.from_json(job.checkpoint)
    at = Position()
    if saved is not None:
        limit = export.content.plan.limit
        remaining = None if limit is None else limit - saved.rows
        export = export.continued(saved.last, remaining)
        at = Position(rows=saved.rows, last=saved.last)
        log(job, f"continuing after {at.rows} rows (cursor {at.last!r}) in a new run")
    else:
        if conf.JOB_COUNT_TOTAL and job.total is None:
            job.total = counted_rows(export.content.plan)
            job.save(update_fields=["total"])
        log(job, f"running: {job.total if job.total is not None else 'unknown'} rows to write")
    record_event(job, "progress")
    progress = Progress(job, saved or Checkpoint())
    progress.start()
    chunks = export.chunks(at)
    out: JobFile | None = None
    error = ""
    try:
        with closing(chunks):
            out = open_job_file(job, saved.file if saved is not None else None)
            if (state := out.opened()) is not None:
                progress.save(at, state)
            end = _write(export, chunks, out, progress, at, part)
    except Exception as exc:  # the export's own failure, or the storage's (S3's ClientError)
        if at.failed:
            end, error = RunEnd.FAILED, at.error or ""
        else:
            logger.exception("job %s: writing its file failed", job.pk)
            end, error = RunEnd.FAILED, describe_failure(exc, WRITE_FAILED)
    finally:
        progress.finish()
    job.rows, job.bytes = progress.rows, progress.bytes
    if end is RunEnd.CONTINUED:
        requeue(job)
        return True
    _end(job, out, end, error or at.error or "")
    return False


def _end(job: ExportJob, out: JobFile | None, end: RunEnd, error: str) -> None:
    """Store the file and succeed, or drop it and fail (or cancel)."""
    if end is RunEnd.COMPLETE and out is not None:
        try:
            out.save()
        except OSError as exc:
            logger.exception("job %s: saving its file failed", job.pk)
            end, error = RunEnd.FAILED, describe_failure(exc, WRITE_FAILED)
        else:
            job.file.name = out.sink.name
            finish(job, JobStatus.SUCCEEDED)
            return
    if out is not None:
        with contextlib.suppress(Exception):  # (the job's failure is what matters)
            out.discard()
        job.checkpoint = {}  # (dropped: nothing for finish() to abandon)
    if end is RunEnd.CANCELLED:
        finish(job, JobStatus.CANCELLED, "cancelled on request")
    else:
        finish(job, JobStatus.FAILED, error or "the export stopped without a trailer")


def requeue(job: ExportJob) -> None:
    """Queue ``job`` again from its checkpoint (its runner submits it again)."""
    log(job, f"slice ended after {job.rows} rows; continuing from the checkpoint")
    ExportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.QUEUED, rows=job.rows, bytes=job.bytes, worker=""
    )
