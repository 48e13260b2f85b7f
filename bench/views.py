"""The contenders: Django exports as they are commonly written, to compare with ours.

Each takes ``?limit=N`` (at most N rows, in id order).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.forms.models import model_to_dict
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from import_export.formats.base_formats import XLSX
from import_export.resources import ModelResource

from project.demo.models import Order
from project.demo.seed import COLUMNS

from .xlsx_writers import BATCH as XLSX_BATCH
from .xlsx_writers import write_xlsxwriter

BATCH = 500
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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


def import_export_xlsx(request: HttpRequest) -> HttpResponse:
    """django-import-export's XLSX, as its admin makes one: ``export()``, then the format's
    ``export_data`` (tablib and openpyxl, the workbook in memory)."""
    dataset = OrderResource().export(orders(request))
    return HttpResponse(XLSX().export_data(dataset), content_type=XLSX_TYPE)


def xlsxwriter_file(request: HttpRequest) -> FileResponse:
    """xlsxwriter in ``constant_memory`` mode, as its docs advise for large files: the rows
    (the JSON field as its text, as ours reads it) written to a temporary file, which is
    then sent. (A bold frozen header and an autofilter, like ours.)"""
    rows = orders(request).annotate(data_text=Cast("data", TextField()))
    values = rows.values_list(*COLUMNS[:-1], "data_text").iterator(chunk_size=XLSX_BATCH)
    batches = iter(lambda: list(islice(values, XLSX_BATCH)), [])
    folder = Path(tempfile.mkdtemp())
    path = folder / "orders.xlsx"
    write_xlsxwriter(path, batches)
    handle = path.open("rb")  # (FileResponse closes it)
    path.unlink()  # (the open file stays readable)
    folder.rmdir()
    return FileResponse(handle, content_type=XLSX_TYPE)
