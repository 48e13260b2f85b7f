"""Running a job: claim it, write the same NDJSON as the live stream to storage, finish it.

The export reads in the job's thread; a ``Progress`` thread writes the counts,
events, heartbeats and cancel checks from a connection of its own.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from typing import IO, Any

from django.core.files import File
from django.db import connections
from django.utils import timezone

from ..conf import conf
from ..core.ndjson import ndjson_chunks, parse_trailer
from ..core.plan import RowPlan
from ..models import ExportJob, Status
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


class _TemporaryFile(File):
    """A finished temporary file that storage may move instead of copy."""

    def temporary_file_path(self) -> str:
        if self.file is None:
            raise ValueError("the temporary file is closed")
        return str(self.file.name)


def _write(chunks: Iterator[bytes], out: IO[bytes], progress: Progress) -> tuple[str, str]:
    """Write chunks, counting progress; return the trailer's status and error."""
    last_line = b""
    for chunk in chunks:
        out.write(chunk)
        last_line = chunk.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if parse_trailer(last_line) is not None:
            break
        progress.rows += chunk.count(b"\n")
        progress.bytes += len(chunk)
        if progress.cancelled.is_set():
            return "cancelled", ""
    end = parse_trailer(last_line)
    return (end.status, end.error) if end is not None else ("error", "")


def run_job(job_id: Any) -> None:
    """Run a queued job to its end in this process; never raises for a failed export."""
    job = _claim(job_id)
    if job is None:
        logger.info("job %s was not queued (already taken or gone)", job_id)
        return
    try:
        _run(job)
    except Exception as exc:
        logger.exception("job %s failed", job.pk)
        finish(job, Status.FAILED, f"{type(exc).__name__}: {exc}")


def job_plan(job: ExportJob) -> tuple[RowPlan, tuple[str, ...], int | None]:
    """What ``job`` reads (its dataset's rows, or its source's), its fields and limit."""
    dataset, query = query_for(job)
    if job.source:
        rows = source_rows(job.source, job.owner)
        return RowPlan.in_queryset_order(dataset, rows, query.fields), query.fields, query.limit
    return query.row_plan(job.owner), query.fields, query.limit


def _run(job: ExportJob) -> None:
    plan, fields, limit = job_plan(job)
    if conf.JOB_COUNT_TOTAL:
        total = plan.queryset.count()
        job.total = min(total, limit) if limit else total
        job.save(update_fields=["total"])
    log(job, f"running: {job.total if job.total is not None else 'unknown'} rows to write")
    record_event(job, "progress")
    progress = Progress(job)
    progress.start()
    chunks = ndjson_chunks(plan, fields, label=f"job {job.pk}")
    try:
        with closing(chunks), tempfile.NamedTemporaryFile(suffix=".ndjson", delete=False) as out:
            try:
                status, error = _write(chunks, out, progress)
            except OSError as exc:
                status, error = "error", f"could not write the export file: {exc}"
    finally:
        progress.finish()
    job.rows, job.bytes = progress.rows, progress.bytes
    try:
        if status == "complete":
            with open(out.name, "rb") as done:
                job.file.save(f"{job.pk}.ndjson", _TemporaryFile(done), save=False)
            job.bytes = job.file.size
            finish(job, Status.SUCCEEDED)
        elif status == "cancelled":
            finish(job, Status.CANCELLED, "cancelled on request")
        else:
            finish(job, Status.FAILED, error or "the export stopped without a trailer")
    finally:
        if os.path.exists(out.name):
            os.unlink(out.name)
