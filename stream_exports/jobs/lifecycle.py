"""A job's lifecycle in the database: created, numbered events and log lines, finished once.

The job row is the truth: status, counts and every event and log line are in
the database, so a restart loses nothing and any process can watch a job.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.http import QueryDict
from django.utils import timezone

from ..audit import trail
from ..audit.trail import AuditOutcome
from ..conf import conf
from ..core.datasets import Dataset, registry
from ..core.encoding import dumps
from ..core.errors import OverCap, Refusal
from ..core.formats.base import Format
from ..core.formats.registry import get_format
from ..core.query import ExportQuery, job_params, parse_export_query
from . import push
from .checkpoint import Checkpoint, FileState
from .files import discard
from .models import (
    SITE_LENGTH,
    UNFINISHED,
    ExportJob,
    JobEvent,
    JobLogLine,
    JobStatus,
    PartitionStatus,
    job_storage,
)
from .signals import job_finished

__all__ = [
    "JobError",
    "NotPartitionable",
    "TooManyJobs",
    "check_job_caps",
    "check_partitions",
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


class NotPartitionable(Refusal):
    """``partitions=`` on a job that cannot be split (a 400 naming it)."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(f"partitions: {message}", param="partitions")


def check_partitions(format: Format, partitions: int | None, *, source: bool = False) -> None:
    """:class:`NotPartitionable` when ``partitions`` (more than 1) cannot be had for a job
    of ``format`` (of a source's rows: an admin changelist's own order)."""
    if partitions is None or partitions <= 1:
        return
    if not format.continuable:
        raise NotPartitionable(
            f"{format.title} files are written in one piece; ask for CSV or NDJSON to split it."
        )
    if source:
        raise NotPartitionable("rows in a changelist's own order are written in one piece.")
    if partitions > conf.MAX_PARTITIONS:
        raise NotPartitionable(f"at most {conf.MAX_PARTITIONS} (MAX_PARTITIONS).")


class TooManyJobs(OverCap):
    """Over a job cap (a 429 naming it)."""


def check_job_caps(owner: Any) -> None:
    """:class:`TooManyJobs` when ``owner`` has ``MAX_JOBS_PER_USER`` jobs queued or running,
    or the site ``MAX_JOBS``: counted in the job table, so every process sees the same.
    Called in the transaction that creates the job: it locks the owner's row (where the
    database has row locks), so one user's starts at the same moment are counted one after
    another; different users' may each pass the site cap's last place."""
    total_cap, user_cap = conf.MAX_JOBS, conf.MAX_JOBS_PER_USER
    if not (total_cap or user_cap):
        return
    if getattr(owner, "pk", None) is not None:
        users = get_user_model()._default_manager.select_for_update()
        list(users.filter(pk=owner.pk).values("pk"))
    unfinished = ExportJob.objects.filter(status__in=UNFINISHED)
    counts = unfinished.aggregate(total=Count("pk"), mine=Count("pk", filter=Q(owner=owner)))
    if user_cap and counts["mine"] >= user_cap:
        raise TooManyJobs(
            f"you have {counts['mine']} jobs queued or running, the most allowed "
            "(MAX_JOBS_PER_USER); wait for one to end, or cancel one."
        )
    if total_cap and counts["total"] >= total_cap:
        raise TooManyJobs(
            f"{counts['total']} jobs are queued or running, the most allowed on this site "
            "(MAX_JOBS); try again soon."
        )


def create_job(
    dataset: Dataset,
    params: QueryDict | dict[str, str],
    owner: Any,
    source: dict[str, Any] | None = None,
    format: Format | str = "ndjson",
    origin: dict[str, Any] | None = None,
    *,
    notify: bool = True,
    site: str = "",
    link_digest: str | None = None,
    partitions: int | None = None,
) -> ExportJob:
    """Validate ``params`` (``ParamError`` if bad) and queue a job for ``owner`` that
    writes ``format``. ``source`` names rows other than the dataset's own (``jobs.sources``).
    The job's start is audited with ``origin`` (who asked: ``audit.trail.origin``;
    default: the project's code) and ended by :func:`finish`. ``notify``: tell the owner
    when it ends; ``site``: the absolute URL the app is served under where it was started
    (``https://host/prefix/``), the base of the links that tell them (none if longer than
    the column holds: a cut URL would point nowhere). ``link_digest``: the signed URL that
    started it (unique: ``IntegrityError`` if it started one already). ``partitions``: how
    many to split it in (1: none; None: ``PARTITION_ROWS`` decides; ``NotPartitionable``
    if it cannot be split).
    """
    format = get_format(format)
    check_partitions(format, partitions, source=bool(source))
    query = QueryDict(mutable=True)
    for key, value in params.lists() if isinstance(params, QueryDict) else params.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    query = job_params(query)
    fields = parse_export_query(dataset, query, format).fields
    job = ExportJob.objects.create(
        dataset=dataset.name,
        format=format.name,
        params=query.dict(),
        owner=owner,
        source=source or {},
        notify=notify,
        site=site if len(site) <= SITE_LENGTH else "",
        link_digest=link_digest,
        partitions=partitions,
    )
    described = {"source": source.get("description") or source.get("kind")} if source else {}
    trail.job_started(
        job.pk,
        owner,
        dataset=job.dataset,
        format=format.name,
        params={**job.params, **described},
        fields=list(fields),
        origin=origin,
    )
    record_event(job, "progress")
    of = f" of {source['description']}" if source and source.get("description") else ""
    kind = "" if format.name == "ndjson" else f" {format.name.upper()}"
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
    """Append a line to the job's log (also to the ``stream_exports`` logger), one line:
    whatever breaks a line (a parameter's CR/LF) is a space."""
    line = " ".join(message.splitlines())
    logger.info("job %s: %s", job.pk, line)
    return _append(JobLogLine, job, message=line)


#: How a job's end reads in the audit trail.
JOB_OUTCOMES = {
    JobStatus.SUCCEEDED: AuditOutcome.COMPLETE,
    JobStatus.FAILED: AuditOutcome.FAILED,
    JobStatus.CANCELLED: AuditOutcome.CUT,
}


def finish(job: ExportJob, status: JobStatus, error: str = "") -> bool:
    """End an unfinished job: final log line, then the status, then one ``done`` event.

    The log line comes first, so a log follower that sees the job finished has
    read its last line. Only the first caller ends a job (a reaper racing a
    worker); returns whether this one did.
    """
    job.finished_at = timezone.now()
    took = (job.finished_at - job.started_at).total_seconds() if job.started_at else 0.0
    detail = f": {error}" if error else ""
    log(job, f"{status.value}: {job.rows} rows, {job.bytes} bytes in {took:.1f} s{detail}")
    ended = ExportJob.objects.filter(pk=job.pk, status__in=UNFINISHED).update(
        status=status,
        error=error,
        finished_at=job.finished_at,
        rows=job.rows,
        bytes=job.bytes,
        file=job.file.name or "",
        checkpoint={},
    )
    if ended:
        trail.job_ended(job.pk, JOB_OUTCOMES[status], job.rows, job.bytes, error)
        saved = Checkpoint.from_json(job.checkpoint)
        if status != JobStatus.SUCCEEDED and saved is not None and saved.file is not None:
            abandon_file(job, saved.file)
        job.status, job.error, job.checkpoint = status, error, {}
        record_event(job, "done")
        for receiver, result in job_finished.send_robust(ExportJob, job=job):
            if isinstance(result, Exception):
                logger.error("job %s: %r failed on job_finished", job.pk, receiver, exc_info=result)
    return bool(ended)


def abandon_file(job: ExportJob, file: FileState) -> None:
    """Drop the half-written file of a job that will not finish it (abort its upload), and
    stop its partitions not done (each drops its piece at its next chunk)."""
    if file.sink.get("pieces"):
        unfinished = (PartitionStatus.QUEUED, PartitionStatus.RUNNING)
        job.partition_set.filter(status__in=unfinished).update(status=PartitionStatus.CANCELLED)
    try:
        discard(job_storage(), file)
    except Exception:
        logger.warning("job %s: could not drop its unfinished file", job.pk, exc_info=True)


def reap_if_stale(job: ExportJob) -> bool:
    """Fail ``job`` now if it runs but its worker stopped beating; True if it did."""
    now = timezone.now()
    limit = now - timedelta(seconds=conf.JOB_STALE_AFTER)
    if job.status != JobStatus.RUNNING or (job.heartbeat_at and job.heartbeat_at >= limit):
        return False
    # Many watchers may find the job stale at once: the one whose conditional update
    # moves the heartbeat on is the reaper; the others see a fresh beat and stand by.
    claimed = ExportJob.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, heartbeat_at=job.heartbeat_at
    ).update(heartbeat_at=now)
    if not claimed:
        return False
    since = job.heartbeat_at.isoformat() if job.heartbeat_at else "never"
    who = f"worker {job.worker}" if job.worker else "the coordinator it was handed on to"
    return finish(job, JobStatus.FAILED, f"{who} stopped (last heartbeat {since})")


def reap_stale_jobs() -> int:
    """Fail running jobs whose worker stopped beating; returns how many."""
    limit = timezone.now() - timedelta(seconds=conf.JOB_STALE_AFTER)
    stale = ExportJob.objects.filter(status=JobStatus.RUNNING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True)
    )
    return sum(reap_if_stale(job) for job in stale)


def request_cancel(job: ExportJob) -> None:
    """Ask a job to stop: a queued one stops now, a running one at its next chunk."""
    ExportJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    if job.status == JobStatus.QUEUED:
        finish(job, JobStatus.CANCELLED, "cancelled before it started")
