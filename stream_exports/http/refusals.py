"""What a request may be refused with before the first byte, and its 4xx answer."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from ..core.datasets import ExportNotAllowed, UnknownDataset
from ..core.query import ParamError
from .access import AccessDenied
from .measure import refused
from .responses import json_error

__all__ = ["REFUSALS", "denied", "refusal"]

#: What a view may be refused with before the first byte (``LookupError``: an unknown thing).
REFUSALS = (AccessDenied, ExportNotAllowed, LookupError, ParamError)


def denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    """401/403 as JSON; a browser that is not signed in goes to the login page instead."""
    wants_html = request.get_preferred_type(["application/json", "text/html"]) == "text/html"
    if exc.status == 401 and wants_html:
        return redirect_to_login(request.get_full_path())
    return json_error(exc.status, exc.message)


def refusal(request: HttpRequest, exc: Exception, user: Any = None) -> HttpResponse:
    """The 4xx for a refusal: 401/403 access, 404 unknown thing, 400 bad parameter; a
    refused stream's record and audit record written (:func:`~stream_exports.http.measure.refused`)
    as ``user``, else the user of a signed URL that no longer holds, else ``request.user``."""
    response = _answer(request, exc)
    if isinstance(exc, AccessDenied):
        reason, user = exc.message, user or exc.user
    else:
        reason = str(exc.args[0] if exc.args else exc)
    refused(request, response.status_code, reason, user or getattr(request, "user", None))
    return response


def _answer(request: HttpRequest, exc: Exception) -> HttpResponse:
    if isinstance(exc, AccessDenied):
        return denied(request, exc)
    if isinstance(exc, ExportNotAllowed):
        return json_error(403, str(exc))
    if isinstance(exc, ParamError):
        return json_error(400, str(exc), exc.param)
    if isinstance(exc, UnknownDataset):
        listing = reverse("stream_exports:index")
        return json_error(404, f"{exc}; GET {listing} lists them.")
    return json_error(404, str(exc.args[0]))
