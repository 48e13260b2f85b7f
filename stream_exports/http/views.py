"""The exports API: the dataset listing, NDJSON exports, revoking one's signed links, and a
readiness answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from ..core.datasets import Dataset, registry
from ..core.formats import MEDIA_TYPES, export_chunks
from ..core.ndjson import Position
from ..core.query import CSV, parse_export_query
from ..core.query import NDJSON as NDJSON_FORMAT
from ..models import LinkRevocation
from .access import AccessDenied, request_user
from .audit import asked
from .job_views import session_or_signed_post
from .measure import Stream
from .openapi import document
from .refusals import REFUSALS, denied, refusal
from .responses import database_down_is_503, json_response, open_stream

__all__ = [
    "dataset_list",
    "describe",
    "export",
    "export_csv",
    "export_ndjson",
    "health",
    "openapi_document",
    "revoke_links",
]


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
            "ndjson": reverse("stream_exports:ndjson", args=[dataset.name]),
            "csv": reverse("stream_exports:csv", args=[dataset.name]),
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
    return JsonResponse(allowed, safe=False, json_dumps_params={"ensure_ascii": False})


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
    return JsonResponse(document(allowed), json_dumps_params={"ensure_ascii": False})


@session_or_signed_post
def revoke_links(request: HttpRequest) -> HttpResponseBase:
    """``POST /exports/links/revoke``: every signed URL made for the caller until now stops
    working (those made later work)."""
    try:
        user = request_user(request)
    except AccessDenied as exc:
        return denied(request, exc)
    revocation = LinkRevocation.objects.revoke(user, by=user, reason="revoked by the user")
    body = {
        "revoked_at": revocation.revoked_at,
        "message": "every signed URL made for you until now is refused from now on.",
    }
    return json_response(body)


def export(request: HttpRequest, name: str, format: str) -> HttpResponseBase:
    """The dataset ``name`` in ``format``, streamed; refusals before the first byte."""
    user = None
    try:
        user = request_user(request)
        dataset = registry.allowed(name, user)
        query = parse_export_query(dataset, request.GET, format)
    except REFUSALS as exc:
        return refusal(request, exc, user)
    filename = None
    if query.download:
        filename = f"{name}-{timezone.now():%Y%m%dT%H%M%SZ}.{format}"
    plan, label, position = query.row_plan(user), f"export {name!r}", Position()
    stream = Stream(
        "export",
        format=format,
        dataset=name,
        position=position,
        params=asked(request.GET),
        fields=list(query.fields),
    )

    def chunks() -> Iterator[bytes]:
        return export_chunks(
            format,
            plan,
            query.fields,
            label=label,
            trailer=query.trailer,
            bom=query.bom,
            position=position,
        )

    media_type = MEDIA_TYPES[format]
    return open_stream(request, user, chunks, media_type, filename, compress=True, stream=stream)


@require_safe
@database_down_is_503
def export_ndjson(request: HttpRequest, name: str) -> HttpResponseBase:
    """``GET /exports/<name>.ndjson``: the dataset as NDJSON, streamed, with a trailer."""
    return export(request, name, NDJSON_FORMAT)


@require_safe
@database_down_is_503
def export_csv(request: HttpRequest, name: str) -> HttpResponseBase:
    """``GET /exports/<name>.csv``: the dataset as CSV, streamed, a header row first."""
    return export(request, name, CSV)
