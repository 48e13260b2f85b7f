"""A job's lifecycle in the database: created, numbered events and log lines, finished once.

The job row is the truth: status, counts and every event and log line are in
the database, so a restart loses nothing and any process can watch a job.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.http import QueryDict
from django.utils import timezone

from ..conf import conf
from ..core.datasets import Dataset, registry
from ..core.encoding import dumps
from ..core.query import NDJSON, ExportQuery, job_params, parse_export_query
from ..models import (
    JOB_START,
    AuditRecord,
    ExportJob,
    JobEvent,
    JobLogLine,
    Outcome,
    Status,
    job_storage,
)
from . import push
from .files import discard

__all__ = [
    "JobError",
    "create_job",
    "finish",
    "log",
    "query_for",
    "reap_if_stale",
    "reap_stale_jobs",
    "record_event",
    "request_cancel",
]

logger = logging.getLogger("stream_exports")


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
    return dataset, parse_export_query(dataset, params, job.format)


def create_job(
    dataset: Dataset,
    params: QueryDict | dict[str, str],
    owner: Any,
    source: dict[str, Any] | None = None,
    format: str = NDJSON,
    origin: dict[str, Any] | None = None,
) -> ExportJob:
    """Validate ``params`` (``ParamError`` if bad) and queue a job for ``owner`` that
    writes ``format``. ``source`` names rows other than the dataset's own (``jobs.sources``).
    The job's start is audited with ``origin`` (who asked, as ``http.audit.origin`` says;
    default: ``{"via": "code"}``) and ended by :func:`finish`.
    """
    query = QueryDict(mutable=True)
    for key, value in params.lists() if isinstance(params, QueryDict) else params.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    query = job_params(query)
    fields = parse_export_query(dataset, query, format).fields
    job = ExportJob.objects.create(
        dataset=dataset.name, format=format, params=query.dict(), owner=owner, source=source or {}
    )
    described = {"source": source.get("description") or source.get("kind")} if source else {}
    AuditRecord.objects.start(
        kind=JOB_START,
        user=owner,
        dataset=job.dataset,
        format=format,
        job=job.pk,
        params={**job.params, **described},
        fields=list(fields),
        **(origin or {"via": "code"}),
    )
    record_event(job, "progress")
    of = f" of {source['description']}" if source and source.get("description") else ""
    kind = "" if format == NDJSON else f" {format.upper()}"
    log(job, f"queued: {dataset.name}{kind} export{of}{describe_params(job.params)}")
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


#: How a job's end reads in the audit trail.
JOB_OUTCOMES = {
    Status.SUCCEEDED: Outcome.COMPLETE,
    Status.FAILED: Outcome.FAILED,
    Status.CANCELLED: Outcome.CUT,
}


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
        checkpoint={},
    )
    if ended:
        outcome = JOB_OUTCOMES[status]
        AuditRecord.objects.end_job(job.pk, outcome, rows=job.rows, bytes=job.bytes, reason=error)
        if status != Status.SUCCEEDED and job.checkpoint.get("file"):
            abandon_file(job)
        job.status, job.error, job.checkpoint = status, error, {}
        record_event(job, "done")
    return bool(ended)


def abandon_file(job: ExportJob) -> None:
    """Drop the half-written file of a job that will not finish it (abort its upload)."""
    try:
        discard(job_storage(), job.checkpoint["file"])
    except Exception:
        logger.warning("job %s: could not drop its unfinished file", job.pk, exc_info=True)


def reap_if_stale(job: ExportJob) -> bool:
    """Fail ``job`` now if it runs but its worker stopped beating; True if it did."""
    now = timezone.now()
    limit = now - timedelta(seconds=conf.JOB_STALE_AFTER)
    if job.status != Status.RUNNING or (job.heartbeat_at and job.heartbeat_at >= limit):
        return False
    # Many watchers may find the job stale at once: the one whose conditional update
    # moves the heartbeat on is the reaper; the others see a fresh beat and stand by.
    claimed = ExportJob.objects.filter(
        pk=job.pk, status=Status.RUNNING, heartbeat_at=job.heartbeat_at
    ).update(heartbeat_at=now)
    if not claimed:
        return False
    since = job.heartbeat_at.isoformat() if job.heartbeat_at else "never"
    return finish(job, Status.FAILED, f"worker {job.worker} stopped (last heartbeat {since})")


def reap_stale_jobs() -> int:
    """Fail running jobs whose worker stopped beating; returns how many."""
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
