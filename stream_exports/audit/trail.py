"""What goes into the audit trail, and from where: a request's origin (who, how, from
where) and parameters, an export's or download's record opened and ended, a refusal, a
job's start and end."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, QueryDict

from ..conf import conf
from ..core.query import SIGNATURE
from .models import AuditKind, AuditOutcome, AuditRecord, Via, audit_log

__all__ = [
    "AUDITED_STREAMS",
    "AuditKind",
    "AuditOutcome",
    "AuditRecord",
    "Via",
    "asked",
    "audit_log",
    "client_address",
    "end",
    "job_ended",
    "job_started",
    "origin",
    "record",
]

logger = logging.getLogger("stream_exports.audit")

#: The streams that move rows, and so are audited (event and log streams are not).
AUDITED_STREAMS = frozenset({AuditKind.EXPORT, AuditKind.ADMIN_EXPORT, AuditKind.DOWNLOAD})


def client_address(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or with ``AUDIT_TRUSTED_PROXIES`` set, the
    ``X-Forwarded-For`` entry the nearest trusted proxy added (``None`` if not an address)."""
    address = request.META.get("REMOTE_ADDR", "")
    if hops := conf.AUDIT_TRUSTED_PROXIES:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        address = forwarded[-hops] if len(forwarded) >= hops else ""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def origin(request: HttpRequest) -> dict[str, Any]:
    """Who asked, as an audit record keeps it: how they authenticated, address, agent."""
    return {
        "via": Via.SIGNED if SIGNATURE in request.GET else Via.SESSION,
        "client": client_address(request),
        "user_agent": request.headers.get("User-Agent", ""),
    }


def asked(params: QueryDict) -> dict[str, Any]:
    """The query parameters as a record keeps them: all but ``sig``; one value as a string,
    a repeated one as a list."""
    return {
        name: values[0] if len(values) == 1 else values
        for name, values in params.lists()
        if name != SIGNATURE
    }


def record(
    request: HttpRequest, user: Any, outcome: str = AuditOutcome.OPEN, **what: Any
) -> AuditRecord | None:
    """The record of what ``request`` does (``None`` with ``AUDIT`` off): ``what`` says
    what (``kind``, ``dataset``, ``format``, ``params``, ...), the request who; an open
    one is ended by :func:`end`, one with another ``outcome`` is ended already. A refusal
    of an unauthenticated request is counted in its client's row of the minute (``None``
    when that row was there already)."""
    known = user if getattr(user, "is_authenticated", False) else None
    if known is None and outcome == AuditOutcome.REFUSED:
        return AuditRecord.objects.refused_anonymously(**origin(request), **what)
    return AuditRecord.objects.start(outcome, user=known, **origin(request), **what)


def end(
    audited: AuditRecord, outcome: AuditOutcome, rows: int | None, bytes: int, **more: Any
) -> None:
    """End an open record; a database that fails here is logged, never raised (the stream
    it audits has ended already)."""
    try:
        audited.end(outcome, rows=rows, bytes=bytes, **more)
    except DatabaseError:
        logger.exception("the audit record %s could not be ended", audited.pk)


def job_started(
    job_id: Any,
    owner: Any,
    *,
    dataset: str,
    format: str,
    params: Mapping[str, Any],
    fields: list[str],
    origin: Mapping[str, Any] | None,
) -> None:
    """The record of a job's start, ended by :func:`job_ended`; ``origin`` as
    :func:`origin` gives it (default: started by the project's code)."""
    AuditRecord.objects.start(
        kind=AuditKind.JOB,
        user=owner,
        dataset=dataset,
        format=format,
        job=job_id,
        params=dict(params),
        fields=fields,
        **(origin or {"via": Via.CODE}),
    )


def job_ended(job_id: Any, outcome: AuditOutcome, rows: int, bytes: int, reason: str) -> None:
    """End the record of the job's start (none when auditing was off)."""
    AuditRecord.objects.end_job(job_id, outcome, rows=rows, bytes=bytes, reason=reason)
