"""The audit trail of requests: who asked (user, signed or session, address, agent), and
what (the parameters, never ``sig``). The rows themselves are
:class:`~stream_exports.models.AuditRecord`; streams open and end theirs in
:mod:`~stream_exports.http.measure`, jobs in :func:`~stream_exports.jobs.lifecycle.create_job`
and :func:`~stream_exports.jobs.lifecycle.finish`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.http import HttpRequest, QueryDict

from ..conf import conf
from ..core.query import SIGNATURE
from ..models import AuditRecord

__all__ = ["AUDITED", "SESSION", "SIGNED", "asked", "client_address", "origin", "start"]

#: What a request authenticated with.
SIGNED, SESSION = "signed", "session"

#: The kinds of stream audited (events and logs move no rows).
AUDITED = frozenset({"export", "admin-export", "download"})


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
        "via": SIGNED if SIGNATURE in request.GET else SESSION,
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


def start(request: HttpRequest, user: Any, **what: Any) -> AuditRecord | None:
    """The record of what ``request`` starts (``None`` with ``AUDIT`` off): ``what`` says
    what (``kind``, ``dataset``, ``format``, ``params``, ...), the request who."""
    known = user if getattr(user, "is_authenticated", False) else None
    return AuditRecord.objects.start(user=known, **origin(request), **what)
