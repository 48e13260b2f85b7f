"""The contenders: Django exports as they are commonly written, to compare with ours.

Each takes ``?limit=N`` (at most N rows, in id order).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from import_export.resources import ModelResource

from project.demo.models import Order

BATCH = 500


class OrderResource(ModelResource):
    """django-import-export's resource for the demo orders (every field)."""

    class Meta:
        model = Order


def orders(request: HttpRequest) -> QuerySet[Order]:
    """The orders in id order, cut to ``?limit=`` if given."""
    queryset = Order.objects.order_by("id")
    if limit := request.GET.get("limit"):
        queryset = queryset[: int(limit)]
    return queryset


def naive(request: HttpRequest) -> StreamingHttpResponse:
    """A typical streaming view: model instances, ``model_to_dict``, ``json.dumps`` per row."""
    lines = (
        json.dumps(model_to_dict(order), cls=DjangoJSONEncoder) + "\n"
        for order in orders(request).iterator()
    )
    return StreamingHttpResponse(lines, content_type="application/x-ndjson")


def values_batches(queryset: QuerySet[Order]) -> Iterator[bytes]:
    """``.values()`` rows as orjson lines, ``BATCH`` rows per chunk."""
    batch: list[bytes] = []
    for row in queryset.values().iterator(chunk_size=BATCH):
        batch.append(orjson.dumps(row, default=str, option=orjson.OPT_APPEND_NEWLINE))
        if len(batch) == BATCH:
            yield b"".join(batch)
            batch = []
    if batch:
        yield b"".join(batch)


def values_orjson(request: HttpRequest) -> StreamingHttpResponse:
    """Better: ``.values()`` and orjson in 500-row chunks, from a sync generator."""
    return StreamingHttpResponse(
        values_batches(orders(request)), content_type="application/x-ndjson"
    )


def whole(request: HttpRequest) -> HttpResponse:
    """Not streamed: the whole list in memory, then one JSON document."""
    rows = list(orders(request).values())
    return HttpResponse(json.dumps(rows, cls=DjangoJSONEncoder), content_type="application/json")


def import_export(request: HttpRequest) -> HttpResponse:
    """django-import-export: ``OrderResource().export()``, then its JSON."""
    dataset = OrderResource().export(orders(request))
    return HttpResponse(dataset.json, content_type="application/json")
