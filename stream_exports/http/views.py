"""The exports API: the dataset listing, the exports (one view, every format), the OpenAPI
document, revoking one's signed links, and a readiness answer."""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.http import require_safe

from ..audit import trail
from ..core.datasets import Dataset, registry
from ..core.errors import Refusal
from ..core.exports import Export
from ..core.formats.registry import formats
from ..core.query import parse_export_query
from ..links.models import revoke_links as revoke_all_links
from .access import AccessDenied, request_caller, request_user
from .answers import database_down_is_503, json_document, json_response
from .exports import export_response
from .job_views import session_or_signed_post
from .openapi import document
from .refusals import denied, refusal

__all__ = ["dataset_list", "describe", "export", "health", "openapi_document", "revoke_links"]


def describe(dataset: Dataset) -> dict[str, Any]:
    """A dataset as ``GET /exports/`` lists it."""
    return {
        "name": dataset.name,
        "label": dataset.label or dataset.model._meta.verbose_name_plural,
        "fields": list(dataset.fields),
        "cursor": dataset.cursor_column,
        "filters": [
            {"name": name, "type": f.type, "help": f.help} for name, f in dataset.filters.items()
        ],
        "urls": {
            format.name: reverse(f"stream_exports:{format.name}", args=[dataset.name])
            for format in formats()
        },
    }


@require_safe
def health(request: HttpRequest) -> HttpResponse:
    """``GET /exports/health``: 200 at once, touching nothing (readiness checks)."""
    return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")


@require_safe
@database_down_is_503
def dataset_list(request: HttpRequest) -> HttpResponse:
    """``GET /exports/``: the datasets the caller may export."""
    try:
        user = request_user(request)
    except AccessDenied as exc:
        return denied(request, exc)
    allowed = [describe(d) for d in registry if d.has_permission(user)]
    return json_document(allowed)


@require_safe
@database_down_is_503
def openapi_document(request: HttpRequest) -> HttpResponse:
    """``GET /exports/openapi.json``: the API as OpenAPI 3.1, with the datasets the caller
    may export (as ``GET /exports/`` lists them): a session or a signed URL."""
    try:
        user = request_user(request)
    except AccessDenied as exc:
        return denied(request, exc)
    allowed = [d for d in registry if d.has_permission(user)]
    return json_document(document(allowed))


@session_or_signed_post
def revoke_links(request: HttpRequest) -> HttpResponseBase:
    """``POST /exports/links/revoke``: every signed URL made for the caller until now stops
    working (those made later work)."""
    try:
        user = request_user(request)
    except AccessDenied as exc:
        return denied(request, exc)
    revocation = revoke_all_links(user, by=user, reason="revoked by the user")
    body = {
        "revoked_at": revocation.revoked_at,
        "message": "every signed URL made for you until now is refused from now on.",
    }
    return json_response(body)


@require_safe
@database_down_is_503
def export(request: HttpRequest, name: str, format: str) -> HttpResponseBase:
    """``GET /exports/<name>.<format>``: the dataset in ``format``, streamed; refusals
    before the first byte."""
    user = None
    try:
        caller = request_caller(request)
        user = caller.user
        dataset = registry.exportable(name, user)
        query = caller.bound(parse_export_query(dataset, request.GET, format))
    except Refusal as exc:
        return refusal(request, exc, user)
    export = Export.of_query(query, user)
    # The database the rows are read from (READ_DATABASE), reached before the first byte:
    # while it is down, a 503 with Retry-After rather than a stream that fails at once.
    connections[export.content.plan.queryset.db].ensure_connection()
    params = trail.asked(request.GET)
    return export_response(request, user, export, download=query.download, params=params)
