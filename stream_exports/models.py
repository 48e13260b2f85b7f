"""Export jobs, their status events and their log, kept in the database."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models

from .conf import conf

__all__ = [
    "FINISHED",
    "ExportJob",
    "ExportJobQuerySet",
    "JobEvent",
    "JobLogLine",
    "Status",
    "job_storage",
]


class Status(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


def job_storage() -> Storage:
    """The storage job files go to: ``STORAGES[STREAM_EXPORTS["JOB_STORAGE"]]``."""
    return storages[conf.JOB_STORAGE]


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
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    rows = models.BigIntegerField(default=0)
    total = models.BigIntegerField(null=True, blank=True)
    bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    file = models.FileField(
        upload_to="stream_exports/", storage=job_storage, blank=True, max_length=255
    )
    worker = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    checkpoint = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where a job run in slices continues: rows, last cursor, its file's upload.",
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
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


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
