"""The audit trail's table: one row per export, download or job start (or one refused),
written as it starts and once more as it ends."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from ..conf import conf
from ..core.errors import on_a_live_connection

__all__ = ["AuditKind", "AuditOutcome", "AuditQuerySet", "AuditRecord", "Via", "audit_log"]

#: The audit trail as structured lines, one JSON object per event (docs/security.md).
audit_logger = logging.getLogger("stream_exports.audit")


class AuditKind(models.TextChoices):
    """What an audited event is."""

    EXPORT = "export"
    ADMIN_EXPORT = "admin-export"
    DOWNLOAD = "download"
    JOB = "job", "job start"


class AuditOutcome(models.TextChoices):
    """How an audited export, download or job ended."""

    OPEN = "open"  #: started, not ended yet (or its process died)
    COMPLETE = "complete"
    CUT = "cut"  #: the client hung up, or the job was cancelled
    FAILED = "failed"
    REFUSED = "refused"  #: a 4xx before the first byte


class Via(models.TextChoices):
    """How the user was known."""

    SESSION = "session"
    SIGNED = "signed", "a signed URL"
    COMMAND = "command", "a management command"
    CODE = "code", "the project's own code"


def audit_log(event: str, record: dict[str, Any]) -> None:
    """One line on the ``stream_exports.audit`` logger: ``{"audit": event, ...record}``
    (none with ``AUDIT`` off)."""
    if not conf.AUDIT:
        return
    line = {"audit": event, **record}
    audit_logger.info(json.dumps(line, cls=DjangoJSONEncoder), extra={"audit": line})


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


#: What a cut parameter list or reason says about itself.
CUT = "[cut]"


def bounded_params(params: Any, limit: int) -> Any:
    """``params`` (a dict) if its JSON is at most ``limit`` characters; else the parameters
    that fit, in order, after a ``"[cut]"`` entry saying how much was sent."""
    if not isinstance(params, dict) or _json_size(params) <= limit:
        return params
    kept = {CUT: f"{_json_size(params):,} characters of parameters were sent; {CUT} these fit"}
    for name, value in params.items():
        if _json_size({**kept, name: value}) <= limit:
            kept[name] = value
    return kept


def bounded_text(text: str, limit: int) -> str:
    """``text``, or its first characters and `` [cut]`` when longer than ``limit``."""
    return text if len(text) <= limit else text[: max(0, limit - len(CUT) - 1)] + " " + CUT


def _json_size(value: Any) -> int:
    return len(json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False))


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


class AuditQuerySet(models.QuerySet["AuditRecord"]):
    def older_than(self, days: int) -> AuditQuerySet:
        """Records started more than ``days`` days ago (what ``prune_audit`` deletes)."""
        return self.filter(started_at__lt=timezone.now() - timedelta(days=days))

    def beyond_newest(self, keep: int, besides: AuditQuerySet | None = None) -> AuditQuerySet:
        """Records past the newest ``keep`` (by start, then number) of those not in
        ``besides``; none when ``keep`` is 0 (no bound)."""
        rest = self if besides is None else self.exclude(pk__in=besides.values("pk"))
        last = rest.order_by("-started_at", "-pk").values_list("started_at", "pk")[keep - 1 : keep]
        if not keep or not (found := list(last)):
            return self.none()
        started, pk = found[0]
        older = models.Q(started_at__lt=started) | models.Q(started_at=started, pk__lt=pk)
        return rest.filter(older)

    def start(self, outcome: str = AuditOutcome.OPEN, **fields: Any) -> AuditRecord | None:
        """Insert a record (one ``INSERT``) and log it; an open one is ended by
        :meth:`AuditRecord.end`. ``None`` with ``AUDIT`` off."""
        if not conf.AUDIT:
            return None
        user = fields.get("user")
        if user is not None:
            fields.setdefault("username", user.get_username())
        if outcome != AuditOutcome.OPEN:
            fields.setdefault("ended_at", timezone.now())
        fields = {name: storable(value) for name, value in fields.items()}
        for field in self.model._meta.fields:  # what a client sent, cut to fit
            value = fields.get(field.name)
            if isinstance(field, models.CharField) and isinstance(value, str):
                fields[field.name] = value[: field.max_length]
        if "params" in fields:
            fields["params"] = bounded_params(fields["params"], conf.AUDIT_MAX_CHARS)
        if "reason" in fields:
            fields["reason"] = bounded_text(fields["reason"], conf.AUDIT_MAX_CHARS)
        record = self.create(outcome=outcome, **fields)
        audit_log("start" if outcome == AuditOutcome.OPEN else "end", record.as_record())
        return record

    def refused_anonymously(self, **fields: Any) -> AuditRecord | None:
        """Count a refusal of an unauthenticated request: one row per kind, status and
        client per minute, whose ``count`` grows (the first request's parameters kept),
        so that a flood of them cannot bury the other rows. One log line each."""
        if not conf.AUDIT:
            return None
        now = timezone.now()
        same = self.filter(
            user=None,
            outcome=AuditOutcome.REFUSED,
            kind=fields.get("kind", ""),
            status=fields.get("status"),
            client=fields.get("client"),
            started_at__gte=now.replace(second=0, microsecond=0),
        )
        counted = same.order_by("pk").values_list("pk", flat=True).first()
        if counted is None:
            return self.start(AuditOutcome.REFUSED, **fields)
        self.filter(pk=counted).update(count=models.F("count") + 1, ended_at=now)
        what = ("kind", "status", "client", "dataset", "reason")
        audit_log("counted", {"id": counted, **{name: fields.get(name) for name in what}})
        return None

    def end_job(
        self, job_id: Any, outcome: AuditOutcome, rows: int, bytes: int, reason: str
    ) -> None:
        """End the record of the job's start (none when auditing was off)."""
        record = self.filter(kind=AuditKind.JOB, job=job_id, outcome=AuditOutcome.OPEN).first()
        if record is not None:
            record.end(outcome, rows=rows, bytes=bytes, reason=reason)


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
    outcome = models.CharField(max_length=16, choices=AuditOutcome, default=AuditOutcome.OPEN)
    reason = models.TextField(blank=True, help_text="Why it was refused or failed.")
    rows = models.BigIntegerField(null=True, blank=True, help_text="Rows sent (a job: written).")
    bytes = models.BigIntegerField(null=True, blank=True, help_text="Bytes on the wire.")
    client = models.GenericIPAddressField(null=True, blank=True, help_text="Client address.")
    user_agent = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(
        default=1,
        db_default=1,  # (rows inserted by an earlier version, during a deploy, count once)
        help_text="Requests this row stands for: the refusals of unauthenticated requests "
        "from one client in one minute share a row (the first one's parameters).",
    )

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
        """Write how it ended (one ``UPDATE``) and log it. A stream may have failed because
        its connection was cut: then the record is ended on a new one."""
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
        on_a_live_connection(lambda: ended.update(**changes), ended.db)
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
