"""Export jobs: create, run to the end (writing the same NDJSON as the live stream), reap.

The job row is the truth: status, counts and every event and log line are in
the database, so a restart loses nothing and any process can watch a job.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from typing import Any

from django.core.files import File
from django.db import IntegrityError, connections, transaction
from django.db.models import Max, Q
from django.http import QueryDict
from django.utils import timezone

from . import push
from .changelists import changelist_plan, changelist_queryset
from .conf import conf
from .datasets import Dataset, registry
from .encoding import dumps
from .models import FINISHED, ExportJob, JobEvent, JobLogLine, Status
from .params import ExportQuery, parse_export_query
from .streams import ndjson_chunks

logger = logging.getLogger("stream_exports")

#: Seconds between two progress lines in a job's log.
LOG_EVERY = 1.0

#: Parameters that only shape a live HTTP response, never a job's file.
RESPONSE_ONLY = ("sig", "download", "trailer")


class JobError(Exception):
    """A job cannot be created or run as asked."""


def query_for(job: ExportJob) -> tuple[Dataset, ExportQuery]:
    """The dataset and parsed query a job was created with."""
    dataset = registry.get(job.dataset)
    if dataset is None:
        raise JobError(f"dataset {job.dataset!r} is no longer registered.")
    params = QueryDict(mutable=True)
    for key, value in job.params.items():
        params[key] = value
    return dataset, parse_export_query(dataset, params)


def create_job(
    dataset: Dataset,
    params: QueryDict | dict[str, str],
    owner: Any,
    source: dict[str, Any] | None = None,
) -> ExportJob:
    """Validate ``params`` (``ParamError`` if bad) and queue a job for ``owner``.

    ``source`` names rows other than the dataset's own (an admin changelist).
    """
    query = QueryDict(mutable=True)
    for key, value in params.lists() if isinstance(params, QueryDict) else params.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    for key in RESPONSE_ONLY:
        query.pop(key, None)
    parse_export_query(dataset, query)
    job = ExportJob.objects.create(
        dataset=dataset.name, params=query.dict(), owner=owner, source=source or {}
    )
    record_event(job, "progress")
    origin = ""
    if source:
        origin = " of an admin changelist" + (f" (?{source['query']})" if source["query"] else "")
    log(job, f"queued: {dataset.name} export{origin}{describe_params(job.params)}")
    return job


def describe_params(params: dict[str, str]) -> str:
    return " with " + ", ".join(f"{k}={v}" for k, v in params.items()) if params else ""


def _next_seq(model: type[JobEvent] | type[JobLogLine], job: ExportJob) -> int:
    last = model.objects.filter(job=job).aggregate(last=Max("seq"))["last"]
    return (last or 0) + 1


def _append(model: type[JobEvent] | type[JobLogLine], job: ExportJob, **fields: Any) -> int:
    """Add a numbered record; numbers are dense and increasing per job."""
    for _ in range(5):
        seq = _next_seq(model, job)
        try:
            with transaction.atomic():
                model.objects.create(job=job, seq=seq, **fields)
        except IntegrityError:
            continue  # another writer took this number (a reaper): take the next
        push.notify(job.pk)
        return seq
    raise JobError(f"could not number a {model.__name__} for job {job.pk}")


def record_event(job: ExportJob, kind: str) -> int:
    """Store the job's current status as a ``progress`` or ``done`` event."""
    data = json.loads(dumps(job.as_status()))
    return _append(JobEvent, job, kind=kind, data=data)


def log(job: ExportJob, message: str) -> int:
    """Append a line to the job's log (also to the ``stream_exports`` logger)."""
    logger.info("job %s: %s", job.pk, message)
    return _append(JobLogLine, job, message=message.replace("\r", " ").replace("\n", " "))


def finish(job: ExportJob, status: Status, error: str = "") -> bool:
    """End an unfinished job: final log line, then the status, then one ``done`` event.

    The log line comes first, so a log follower that sees the job finished has
    read its last line. Only the first caller ends a job (a reaper racing a
    worker); returns whether this one did.
    """
    job.finished_at = timezone.now()
    took = (job.finished_at - job.started_at).total_seconds() if job.started_at else 0.0
    detail = f": {error}" if error else ""
    log(job, f"{status.value}: {job.rows} rows, {job.bytes} bytes in {took:.1f} s{detail}")
    ended = ExportJob.objects.filter(pk=job.pk, status__in=[Status.QUEUED, Status.RUNNING]).update(
        status=status,
        error=error,
        finished_at=job.finished_at,
        rows=job.rows,
        bytes=job.bytes,
        file=job.file.name or "",
    )
    if ended:
        job.status, job.error = status, error
        record_event(job, "done")
    return bool(ended)


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
                if now - last_log >= LOG_EVERY:
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
        return self.file.name


def _write(chunks: Iterator[bytes], out: Any, progress: Progress) -> tuple[str, str]:
    """Write chunks, counting progress; return the last line's status and error."""
    last_line = b""
    for chunk in chunks:
        out.write(chunk)
        last_line = chunk.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if last_line.startswith(b'{"_stream":'):
            break
        progress.rows += chunk.count(b"\n")
        progress.bytes += len(chunk)
        if progress.cancelled.is_set():
            return "cancelled", ""
    trailer = json.loads(last_line)["_stream"] if last_line else {}
    return trailer.get("status", "error"), trailer.get("error", "")


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


def _run(job: ExportJob) -> None:
    dataset, query = query_for(job)
    if job.source:
        rows = changelist_queryset(job.source, job.owner)
        plan = changelist_plan(dataset, rows, query.fields)
    else:
        plan = query.row_plan(job.owner)
    if conf.JOB_COUNT_TOTAL:
        total = plan.queryset.count()
        job.total = min(total, query.limit) if query.limit else total
        job.save(update_fields=["total"])
    log(job, f"running: {job.total if job.total is not None else 'unknown'} rows to write")
    record_event(job, "progress")
    progress = Progress(job)
    progress.start()
    chunks = ndjson_chunks(plan, query.fields, label=f"job {job.pk}")
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


def reap_stale_jobs() -> int:
    """Fail running jobs whose worker stopped beating; returns how many."""
    from .tail import reap_if_stale

    limit = timezone.now() - timedelta(seconds=conf.JOB_STALE_AFTER)
    stale = ExportJob.objects.filter(status=Status.RUNNING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True)
    )
    return sum(reap_if_stale(job) for job in stale)


def request_cancel(job: ExportJob) -> None:
    """Ask a job to stop: a queued one stops now, a running one at its next chunk."""
    ExportJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    if job.status == Status.QUEUED:
        finish(job, Status.CANCELLED, "cancelled before it started")


def visible_jobs(user: Any):
    """The jobs ``user`` may see: their own, or all for a superuser."""
    jobs = ExportJob.objects.all()
    return jobs if user.is_superuser else jobs.filter(owner=user)


__all__ = ["FINISHED", "create_job", "reap_stale_jobs", "request_cancel", "run_job"]
