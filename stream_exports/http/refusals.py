"""A request refused before its first byte: its 4xx answer, and what is written of it (the
stream's record, and the audit trail's row for an export, download or job start)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from ..audit import trail
from ..audit.trail import AuditKind, AuditOutcome
from ..core.datasets import NoDatasetYouMayExport, UnknownDataset
from ..core.errors import Refusal
from ..links.signing import AccessDenied
from .answers import json_error
from .measure import refused_stream

__all__ = ["denied", "refusal", "refused"]

#: Routes (URL names) that start a job: audited when refused, though not a stream.
JOB_STARTS = ("jobs",)


def denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    """401/403 as JSON; a browser that is not signed in goes to the login page instead."""
    wants_html = request.get_preferred_type(["application/json", "text/html"]) == "text/html"
    if exc.status == 401 and wants_html:
        return redirect_to_login(request.get_full_path())
    return json_error(exc.status, exc.message)


def refusal(request: HttpRequest, exc: Refusal, user: Any = None) -> HttpResponse:
    """The 4xx for ``exc``, written down (:func:`refused`, with what ``exc`` records) as
    ``user``, else the user of a signed URL that no longer holds, else ``request.user``."""
    if isinstance(exc, AccessDenied):
        response = denied(request, exc)
    elif isinstance(exc, NoDatasetYouMayExport):
        listing = reverse("stream_exports:index")
        response = json_error(exc.status, f"{exc.message}; GET {listing} lists those you may.")
    elif isinstance(exc, UnknownDataset):
        listing = reverse("stream_exports:index")
        response = json_error(exc.status, f"{exc.message}; GET {listing} lists them.")
    else:
        response = json_error(exc.status, exc.message, exc.param)
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    who = user or exc.user or getattr(request, "user", None)
    refused(request, response.status_code, exc.recorded, who)
    return response


def refused(request: HttpRequest, status: int, reason: str, user: Any = None) -> None:
    """Write down a request refused before its first byte: the stream's record (if it is
    a stream) and the audit row (if it is an export, download or job start)."""
    stream = refused_stream(request, status, reason, user)
    match = request.resolver_match
    ended: dict[str, Any] = {"outcome": AuditOutcome.REFUSED, "status": status, "reason": reason}
    if stream is not None and stream.kind in trail.AUDITED_STREAMS:
        trail.record(request, user, **stream.audited(), **ended)
    elif match is not None and match.url_name in JOB_STARTS:
        dataset = match.kwargs.get("name", "")
        params = trail.asked(request.GET)
        trail.record(request, user, kind=AuditKind.JOB, dataset=dataset, params=params, **ended)
