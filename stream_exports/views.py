"""The Django face of the product: dataset listing and NDJSON exports."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from .access import AccessDenied, request_user
from .datasets import Dataset, registry
from .params import ParamError, parse_export_query
from .responses import NDJSON, StreamResponse, database_down_is_503, json_error
from .streams import ndjson_chunks


def denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    """401/403 as JSON; a browser that is not signed in goes to the login page instead."""
    wants_html = request.get_preferred_type(["application/json", "text/html"]) == "text/html"
    if exc.status == 401 and wants_html:
        return redirect_to_login(request.get_full_path())
    return json_error(exc.status, exc.message)


#: What a request may be refused with before the first byte.
REFUSALS = (AccessDenied, LookupError, ParamError)


def refusal(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The 4xx for a refusal: 401/403 access, 404 unknown thing, 400 bad parameter."""
    if isinstance(exc, AccessDenied):
        return denied(request, exc)
    if isinstance(exc, ParamError):
        return json_error(400, str(exc), exc.param)
    return json_error(404, str(exc.args[0]))


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
        "urls": {"ndjson": reverse("stream_exports:ndjson", args=[dataset.name])},
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


def find_dataset(request: HttpRequest, name: str) -> tuple[Dataset, Any]:
    """The dataset and the user allowed to export it, or ``AccessDenied``/``LookupError``."""
    user = request_user(request)
    dataset = registry.get(name)
    if dataset is None:
        listing = reverse("stream_exports:index")
        raise LookupError(f"unknown dataset {name!r}; GET {listing} lists them.")
    if not dataset.has_permission(user):
        raise AccessDenied(403, f"you may not export dataset {name!r}.")
    return dataset, user


@require_safe
@database_down_is_503
def export_ndjson(request: HttpRequest, name: str) -> HttpResponse:
    """``GET /exports/<name>.ndjson``: the dataset as NDJSON, streamed, with a trailer."""
    try:
        dataset, user = find_dataset(request, name)
        query = parse_export_query(dataset, request.GET)
    except REFUSALS as exc:
        return refusal(request, exc)
    chunks = ndjson_chunks(
        query.row_plan(user), query.fields, with_trailer=query.trailer, label=f"export {name!r}"
    )
    filename = None
    if query.download:
        filename = f"{name}-{timezone.now():%Y%m%dT%H%M%SZ}.ndjson"
    return StreamResponse(request, chunks, NDJSON, filename)
