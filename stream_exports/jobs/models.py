"""Export jobs, their status events and their log, kept in the database; where job files go."""

from __future__ import annotations

import uuid
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

from ..conf import conf

__all__ = [
    "FINISHED",
    "UNFINISHED",
    "ExportJob",
    "ExportJobQuerySet",
    "ExportPartition",
    "JobEvent",
    "JobLogLine",
    "JobStatus",
    "JobStorage",
    "PartitionStatus",
    "job_storage",
]


class JobStatus(models.TextChoices):
    """Where a job is: waiting, running, or ended one of three ways."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)

#: The longest ``ExportJob.site`` kept.
SITE_LENGTH = 200


class JobStorage(LazyObject):
    """``STORAGES[STREAM_EXPORTS["JOB_STORAGE"]]``, made at its first use and made again
    after either setting changes.

    Django checks a file field's storage with ``isinstance`` when its model is imported;
    until the app registry is ready this reads as a plain :class:`Storage`, so the backend
    (django-storages' S3 one imports boto3) waits for the first job file."""

    _wrapped: Any  # the backend, or ``empty`` until first use

    def _setup(self) -> None:
        self._wrapped = storages[conf.JOB_STORAGE]

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        if self._wrapped is empty and not apps.ready:
            return Storage
        if self._wrapped is empty:
            self._setup()
        return type(self._wrapped)


#: The storage job files go to.
job_files = JobStorage()


@receiver(setting_changed)
def _storage_changed(setting: str, **kwargs: Any) -> None:
    if setting in ("STORAGES", "STREAM_EXPORTS"):
        job_files._wrapped = empty


def job_storage() -> Storage:
    """The storage job files go to (the file field's storage)."""
    return job_files  # type: ignore[return-value]  # (a lazy Storage)


class ExportJobQuerySet(models.QuerySet["ExportJob"]):
    def visible_to(self, user: Any) -> ExportJobQuerySet:
        """The jobs ``user`` may see: their own, or every one for a superuser."""
        return self if user.is_superuser else self.filter(owner=user)


class ExportJob(models.Model):
    """One dataset export written to storage in the background."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.CharField(max_length=64)
    format = models.CharField(
        max_length=8, default="ndjson", help_text="What the file is written as: ndjson or csv."
    )
    params = models.JSONField(default=dict, help_text="The export's query parameters.")
    source = models.JSONField(
        default=dict, blank=True, help_text="Where the rows come from when not the dataset's own."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs"
    )
    status = models.CharField(max_length=16, choices=JobStatus, default=JobStatus.QUEUED)
    rows = models.BigIntegerField(default=0)
    total = models.BigIntegerField(null=True, blank=True)
    bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    file = models.FileField(
        upload_to="stream_exports/", storage=job_storage, blank=True, max_length=255
    )
    worker = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    notify = models.BooleanField(
        default=True, help_text="Tell its owner by e-mail when it ends (NOTIFY_BY_EMAIL)."
    )
    site = models.CharField(
        max_length=SITE_LENGTH,
        blank=True,
        help_text="Where it was started (scheme, host, script prefix): its links' base.",
    )
    checkpoint = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where a job run in slices continues: rows, last cursor, its file's upload.",
    )
    partitions = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Partitions asked for: 1 for none, more to split it; empty: PARTITION_ROWS "
        "decides.",
    )
    consistency = models.CharField(
        max_length=16,
        blank=True,
        help_text="How its partitions read: snapshot (one PostgreSQL snapshot) or "
        "per-partition; empty: not partitioned.",
    )
    snapshot = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="The PostgreSQL snapshot its partitions read in, while its coordinator holds it.",
    )
    link_digest = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text="SHA-256 of the signed URL that started it: posted again, that URL answers "
        "with this job.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = ExportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "export job"

    def __str__(self) -> str:
        return f"{self.dataset} export {self.id} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def visible_to(self, user: Any) -> bool:
        """Whether ``user`` may see this job (its owner, or a superuser)."""
        return bool(user.is_superuser or self.owner_id == user.pk)

    def as_status(self) -> dict[str, Any]:
        """The job's status as the API and SSE events show it."""
        return {
            "id": str(self.id),
            "dataset": self.dataset,
            "format": self.format,
            "status": self.status,
            "rows": self.rows,
            "total": self.total,
            "bytes": self.bytes,
            "error": self.error or None,
            "params": self.params,
            **self.partition_status(),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    def partition_status(self) -> dict[str, Any]:
        """``partitions`` (done, total) and ``consistency`` of a partitioned job; ``{}``
        for one that is not."""
        if not self.consistency:
            return {}
        done = models.Q(status=PartitionStatus.SUCCEEDED)
        counts = self.partition_set.aggregate(
            done=models.Count("pk", filter=done), total=models.Count("pk")
        )
        return {"partitions": counts, "consistency": self.consistency}


class PartitionStatus(models.TextChoices):
    """Where one partition of a job is."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ExportPartition(models.Model):
    """One range of a partitioned job's cursor, ``after < cursor <= until``, written as one
    piece of the job's file by whichever worker claims it."""

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="partition_set")
    index = models.PositiveIntegerField(help_text="Its place in the file, from 0.")
    after = models.JSONField(null=True, blank=True, help_text="The cursor it starts past.")
    until = models.JSONField(null=True, blank=True, help_text="The last cursor it reads.")
    status = models.CharField(
        max_length=16, choices=PartitionStatus, default=PartitionStatus.QUEUED
    )
    rows = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    last = models.JSONField(null=True, blank=True, help_text="The cursor of its last row.")
    tries = models.PositiveIntegerField(default=0)
    piece = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where its piece is: its S3 parts (numbers, ETags) and held-back head, or "
        "its file's name.",
    )
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        verbose_name = "export partition"
        constraints = [
            models.UniqueConstraint(
                fields=["job", "index"], name="%(app_label)s_%(class)s_job_index"
            )
        ]

    def __str__(self) -> str:
        return f"partition {self.index} of job {self.job_id} ({self.status})"

    @property
    def task_id(self) -> str:
        """What a runner is given to run it: ``<job id>/<index>``."""
        return f"{self.job_id}/{self.index}"

    @property
    def continued(self) -> bool:
        """Whether its run goes on from a checkpoint: unfinished, its piece half-written."""
        return self.status != PartitionStatus.SUCCEEDED and bool(self.piece)


class JobRecord(models.Model):
    """Something a job wrote, numbered from 1 in the order written."""

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["job", "seq"], name="%(app_label)s_%(class)s_seq")
        ]


class JobEvent(JobRecord):
    """A change of the job: ``progress`` while it runs, one ``done`` at the end."""

    kind = models.CharField(max_length=16)
    data = models.JSONField()

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq}"


class JobLogLine(JobRecord):
    """One line of the job's plain-text log."""

    message = models.TextField()

    def __str__(self) -> str:
        return self.message
