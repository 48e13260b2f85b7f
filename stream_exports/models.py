"""Export jobs, their status events and their log, kept in the database."""

from __future__ import annotations

import json
import logging
import uuid
from contextlib import suppress
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models
from django.utils import timezone

from .conf import conf

__all__ = [
    "FINISHED",
    "AuditRecord",
    "ExportJob",
    "ExportJobQuerySet",
    "JobEvent",
    "JobLogLine",
    "JobStorage",
    "LinkRevocation",
    "Outcome",
    "Status",
    "audit_log",
    "job_storage",
]

#: The audit trail as structured lines, one JSON object per event (docs/security.md).
audit_logger = logging.getLogger("stream_exports.audit")


class Status(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


class JobStorage(Storage):
    """The storage job files go to, ``STORAGES[STREAM_EXPORTS["JOB_STORAGE"]]``, looked up
    at each use: every attribute is that backend's.

    Django makes a file field's storage when its model is imported, at start-up; so the
    backend waits for the first job file instead (django-storages' S3 backend imports
    boto3, a tenth of a second of every cold start)."""

    def __getattribute__(self, name: str) -> Any:
        return getattr(storages[conf.JOB_STORAGE], name)


def job_storage() -> Storage:
    """The storage job files go to (a :class:`JobStorage`)."""
    return JobStorage()


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


def audit_log(event: str, record: dict[str, Any]) -> None:
    """One line on the ``stream_exports.audit`` logger: ``{"audit": event, ...record}``
    (none with ``AUDIT`` off)."""
    if not conf.AUDIT:
        return
    line = {"audit": event, **record}
    audit_logger.info(json.dumps(line, cls=DjangoJSONEncoder), extra={"audit": line})


def _user_or_null(help_text: str) -> models.ForeignKey:
    """A user the row outlives: emptied when the user is deleted."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=help_text,
    )


class LinkRevocationQuerySet(models.QuerySet["LinkRevocation"]):
    def revoke(self, user: Any, by: Any = None, reason: str = "") -> LinkRevocation:
        """End every signed URL ``user`` has now (those made later work); ``by`` did it."""
        revocation = self.create(user=user, revoked_by=by, reason=reason[:200])
        audit_log("revoke", revocation.as_record())
        return revocation


class LinkRevocation(models.Model):
    """ "Revoke all": each signed URL carries the id of its user's last revocation when it
    was made, and stops working once a newer one exists. Never deleted: deleting the last
    one would bring back the links it ended."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Whose signed URLs end.",
    )
    revoked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    revoked_by = _user_or_null("Who revoked them (empty: the command, or a deleted user).")
    reason = models.CharField(max_length=200, blank=True)

    objects = LinkRevocationQuerySet.as_manager()

    class Meta:
        ordering = ["-revoked_at", "-pk"]
        verbose_name = "signed link revocation"

    def __str__(self) -> str:
        return f"signed links of {self.user} revoked at {self.revoked_at:%Y-%m-%d %H:%M:%S}"

    def as_record(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "user": self.user_id,
            "revoked_by": self.revoked_by_id,
            "reason": self.reason,
            "revoked_at": self.revoked_at,
        }


class Outcome(models.TextChoices):
    """How an audited export, download or job ended."""

    OPEN = "open"  #: started, not ended yet (or its process died)
    COMPLETE = "complete"
    CUT = "cut"  #: the client hung up, or the job was cancelled
    FAILED = "failed"
    REFUSED = "refused"  #: a 4xx before the first byte


def storable(value: Any) -> Any:
    """``value`` (a string, or a dict or list of them) with each NUL written as U+FFFD: a
    client can send one, and PostgreSQL's text and jsonb refuse it."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


class AuditQuerySet(models.QuerySet["AuditRecord"]):
    def older_than(self, days: int) -> AuditQuerySet:
        """Records started more than ``days`` days ago (what ``prune_audit`` deletes)."""
        return self.filter(started_at__lt=timezone.now() - timedelta(days=days))

    def start(self, outcome: str = Outcome.OPEN, **fields: Any) -> AuditRecord | None:
        """Insert a record (one ``INSERT``) and log it; an open one is ended by
        :meth:`AuditRecord.end`. ``None`` with ``AUDIT`` off."""
        if not conf.AUDIT:
            return None
        user = fields.get("user")
        if user is not None:
            fields.setdefault("username", user.get_username())
        if outcome != Outcome.OPEN:
            fields.setdefault("ended_at", timezone.now())
        fields = {name: storable(value) for name, value in fields.items()}
        for field in self.model._meta.fields:  # what a client sent, cut to fit
            value = fields.get(field.name)
            if isinstance(field, models.CharField) and isinstance(value, str):
                fields[field.name] = value[: field.max_length]
        record = self.create(outcome=outcome, **fields)
        audit_log("start" if outcome == Outcome.OPEN else "end", record.as_record())
        return record

    def end_job(self, job_id: Any, outcome: str, rows: int, bytes: int, reason: str) -> None:
        """End the record of the job's start (none when auditing was off)."""
        record = self.filter(kind=JOB_START, job=job_id, outcome=Outcome.OPEN).first()
        if record is not None:
            record.end(outcome, rows=rows, bytes=bytes, reason=reason)


#: The kind of an audit record of a job's start (the others: export, admin-export, download).
JOB_START = "job"


class AuditRecord(models.Model):
    """Who took what, when: one export, download or job start, or one refused. Written
    once as it starts and once as it ends; read-only in the admin."""

    kind = models.CharField(max_length=16, help_text="export, admin-export, download or job.")
    user = _user_or_null("Who (empty: unknown, or deleted since).")
    username = models.CharField(max_length=150, blank=True, help_text="Kept if the user goes.")
    via = models.CharField(max_length=16, help_text="session, signed (a signed URL) or command.")
    dataset = models.CharField(max_length=64, blank=True)
    format = models.CharField(max_length=8, blank=True)
    job = models.UUIDField(null=True, blank=True, db_index=True)
    params = models.JSONField(
        default=dict, blank=True, help_text="What was asked: filters, fields, limit; never sig."
    )
    fields = models.JSONField(default=list, blank=True, help_text="The fields sent.")
    status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="HTTP status.")
    outcome = models.CharField(max_length=16, choices=Outcome, default=Outcome.OPEN)
    reason = models.TextField(blank=True, help_text="Why it was refused or failed.")
    rows = models.BigIntegerField(null=True, blank=True, help_text="Rows sent (a job: written).")
    bytes = models.BigIntegerField(null=True, blank=True, help_text="Bytes on the wire.")
    client = models.GenericIPAddressField(null=True, blank=True, help_text="Client address.")
    user_agent = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = "audit record"

    def __str__(self) -> str:
        what = f"{self.dataset} {self.format}".strip()
        return f"{self.kind} {what} by {self.username or '-'}: {self.outcome}"

    def end(
        self, outcome: str, *, rows: int | None, bytes: int | None, reason: str = "", **more: Any
    ) -> None:
        """Write how it ended (one ``UPDATE``) and log it."""
        changes = {
            "outcome": outcome,
            "rows": rows,
            "bytes": bytes,
            "reason": storable(reason or ""),
            "ended_at": timezone.now(),
            **more,
        }
        for name, value in changes.items():
            setattr(self, name, value)
        ended = type(self).objects.filter(pk=self.pk)
        connection = connections[ended.db]
        try:
            ended.update(**changes)
        except Exception:  # (the driver's own error too: mysqlclient raises one unwrapped)
            # The stream may have failed because its connection was cut: end it on a new one.
            if connection.in_atomic_block or connection.is_usable():
                raise
            with suppress(Exception):
                connection.close()
            ended.update(**changes)
        audit_log("end", self.as_record())

    def as_record(self) -> dict[str, Any]:
        """The record as its log lines write it."""
        return {
            "id": self.pk,
            "kind": self.kind,
            "user": self.user_id,
            "username": self.username,
            "via": self.via,
            "dataset": self.dataset,
            "format": self.format,
            "job": self.job,
            "params": self.params,
            "fields": self.fields,
            "status": self.status,
            "outcome": self.outcome,
            "reason": self.reason,
            "rows": self.rows,
            "bytes": self.bytes,
            "client": self.client,
            "user_agent": self.user_agent,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }
