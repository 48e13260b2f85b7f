"""The XLSX format: each model field's cells typed, labels for headers and choices, the
rows counted as they go, and past a sheet's rows a second sheet."""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Concat

from stream_exports.core.datasets import Dataset, registry
from stream_exports.core.exports import Export
from stream_exports.core.formats.base import Position, WriteOptions
from stream_exports.core.formats.registry import get_format
from stream_exports.core.formats.xlsx import cell_kind, sheet_columns
from stream_exports.core.workbook import MAX_ROWS, CellKind
from tests.testapp.models import Order

from ..spreadsheets import count_rows

K = CellKind


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        (models.BigAutoField(primary_key=True), K.INTEGER),
        (models.PositiveSmallIntegerField(), K.INTEGER),
        (models.DecimalField(max_digits=12, decimal_places=2), K.DECIMAL),
        (models.FloatField(), K.FLOAT),
        (models.BooleanField(), K.BOOLEAN),
        (models.DateField(), K.DATE),
        (models.DateTimeField(), K.DATETIME),
        (models.TimeField(), K.TIME),
        (models.DurationField(), K.DURATION),
        (models.JSONField(), K.JSON),
        (models.UUIDField(), K.TEXT),
        (models.EmailField(), K.TEXT),
        (models.TextField(), K.TEXT),
        (models.IntegerField(choices=[(1, "Low"), (2, "High")]), K.INTEGER),  # raw: its type
        (None, K.TEXT),
    ],
)
def test_each_field_has_its_kind(field, kind):
    assert cell_kind(field) is kind


def test_a_foreign_key_is_written_as_its_targets_key():
    from django.contrib.admin.models import LogEntry

    assert cell_kind(LogEntry._meta.get_field("user")) is K.INTEGER


def export(
    fields: list[str], labels: bool = False, queryset: Any = None, overrides: Any = None
) -> Export:
    """The orders' ``fields`` in XLSX (``overrides``: a dataset's own labels)."""
    declared = registry.get("orders")
    if overrides:
        declared = Dataset("labelled", Order.objects.all(), declared.fields, labels=overrides)
    rows = queryset if queryset is not None else Order.objects.all()
    return Export.of_rows(declared, rows, fields, get_format("xlsx"), WriteOptions(labels=labels))


def test_headers_are_names_or_labels_and_a_choice_is_its_value_or_text():
    fields = ["id", "amount", "created_at", "status"]
    raw = sheet_columns(export(fields).content)
    assert [c.header for c in raw] == fields
    assert [c.kind for c in raw] == [K.INTEGER, K.DECIMAL, K.DATETIME, K.TEXT]
    assert raw[1].number_format == "0.00"  # the field's two decimal places
    labelled = sheet_columns(export(fields, labels=True).content)
    assert [c.header for c in labelled] == ["Id", "Amount", "Created at", "Order status"]
    overridden = sheet_columns(export(fields, True, overrides={"created_at": "Placed at"}).content)
    assert [c.header for c in overridden] == ["Id", "Amount", "Placed at", "Order status"]


def test_an_annotation_is_typed_by_its_output_field():
    queryset = Order.objects.annotate(
        twice=F("quantity") * 2,
        tag=Concat("customer", Value("!"), output_field=models.CharField()),
        day=models.ExpressionWrapper(F("created_at"), output_field=models.DateTimeField()),
        mixed=F("customer") + F("quantity"),  # (Django cannot tell its type: text)
    )
    fields = ["id", "twice", "tag", "day", "mixed"]
    columns = sheet_columns(export(fields, queryset=queryset).content)
    assert [c.kind for c in columns] == [K.INTEGER, K.INTEGER, K.TEXT, K.DATETIME, K.TEXT]


@pytest.mark.django_db
def test_choice_values_are_labels_only_when_asked(world):
    def cells(labels: bool) -> list[tuple[Any, ...]]:
        made = export(["id", "status"], labels, Order.objects.filter(id__lte=3))
        data = b"".join(made.chunks())
        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        return list(sheet.iter_rows(values_only=True))[:4]

    raw, labelled = cells(False), cells(True)
    statuses = dict(Order.objects.filter(id__lte=3).values_list("id", "status"))
    assert raw == [("id", "status"), *((n, statuses[n]) for n in (1, 2, 3))]
    names = {"placed": "Placed", "shipped": "Shipped", "delivered": "Delivered"}
    names["returned"] = "Returned to sender"
    assert labelled == [("Id", "Order status"), *((n, names[statuses[n]]) for n in (1, 2, 3))]


def test_the_cursor_keeps_its_stored_values_with_labels():
    content = export(["id", "status"], True).content
    assert content.labelled.keys() == {1}
    by_status = Dataset("by-status", Order.objects.all(), ["status", "id"], cursor="status")
    content = Export.of_rows(
        by_status,
        Order.objects.all(),
        ["status", "id"],
        get_format("csv"),
        WriteOptions(labels=True),
    ).content
    assert content.labelled == {}  # (resuming reads the cursor back: it stays as stored)


def fake_rows(total: int, batch: int = 20_000):
    """``row_batches`` of ``total`` made-up orders (id, amount, created_at): no database."""
    when = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)

    def read(plan: Any, chunk_size: Any = None) -> Iterator[list[tuple[Any, ...]]]:
        for at in range(1, total + 1, batch):
            yield [
                (n, Decimal(n).scaleb(-2), when + datetime.timedelta(seconds=n))
                for n in range(at, min(at + batch, total + 1))
            ]

    return read


@pytest.mark.load
def test_an_export_past_a_sheets_rows_goes_on_in_a_second_sheet(monkeypatch):
    """1,100,000 rows through the format (made up: seeding them would take minutes)."""
    total = 1_100_000
    monkeypatch.setattr("stream_exports.core.formats.base.row_batches", fake_rows(total))
    position = Position()
    made = export(["id", "amount", "created_at"], labels=True)
    data = b"".join(made.chunks(position))
    assert (position.rows, position.last) == (total, total)
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    assert book.sheetnames == ["Orders", "Orders (2)"]
    header, first = book["Orders (2)"].iter_rows(max_row=2, values_only=True)
    assert header == ("Id", "Amount", "Created at")  # the header again
    assert first[0] == MAX_ROWS  # the rows go on: 1,048,575 on the first sheet
    archive = zipfile.ZipFile(io.BytesIO(data))
    counts = [count_rows(archive, f"xl/worksheets/sheet{n}.xml") for n in (1, 2)]
    assert counts == [MAX_ROWS, total - (MAX_ROWS - 1) + 1]  # (each with its header)
