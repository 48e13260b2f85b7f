"""Row plans: the cursor read once, and one query (``select``) that both readers and COPY read."""

from __future__ import annotations

import json
from dataclasses import replace
from unittest import mock

import pytest

from stream_exports.core.datasets import registry
from stream_exports.core.pgcopy import copy_batches
from stream_exports.core.plan import RowPlan
from stream_exports.core.readers import (
    cursor_batches,
    keyset_batches,
    sends_in_chunks,
    streamed_batches,
)
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("fields", "columns"),
    [
        (("customer", "note"), ("customer", "note", "id")),
        (("note", "id", "customer"), ("note", "id", "customer")),
        (("id",), ("id",)),
    ],
)
def test_for_dataset_reads_the_cursor_once(fields, columns):
    plan = RowPlan.for_dataset(registry.get("orders"), Order.objects.all(), fields)
    assert plan.columns == columns
    assert plan.cursor == "id" and columns[plan.cursor_index] == "id"


def test_in_queryset_order_keeps_the_querysets_order_else_the_cursors():
    dataset = registry.get("orders")
    ordered = RowPlan.in_queryset_order(dataset, Order.objects.order_by("-amount"), ("id",))
    assert ordered.ordering == ("-amount",)
    # The cursor's order (none given, or one that starts with the cursor ascending) is the
    # plain plan's: the export URL's readers, COPY and partitions serve it.
    for queryset in (Order.objects.all(), Order.objects.order_by("id", "-amount")):
        assert RowPlan.in_queryset_order(dataset, queryset, ("id",)).ordering == ()
    descending = RowPlan.in_queryset_order(dataset, Order.objects.order_by("-pk"), ("id",))
    assert descending.ordering == ("-pk",)


def test_every_plan_reads_from_the_read_database(settings, rf):
    """Export URLs and jobs (a query's plan, its bounds' count too) and the admin (a
    changelist's rows) read from READ_DATABASE; empty: where the queryset reads."""
    from stream_exports.core.query import Bounds, parse_export_query

    dataset = registry.get("orders")
    counted = []
    settings.STREAM_EXPORTS = {"READ_DATABASE": "replica"}
    query = parse_export_query(dataset, rf.get("/", {"after": "5"}).GET)
    bounded = replace(query, bounds=Bounds(floor=None, limit=10))
    with mock.patch.object(Bounds, "applied", autospec=True) as applied:
        applied.side_effect = lambda self, rows, *_: counted.append(rows.db) or (rows, 10)
        assert bounded.row_plan(None).queryset.db == "replica"
    assert counted == ["replica"]
    changelist = RowPlan.in_queryset_order(dataset, Order.objects.order_by("-amount"), ("id",))
    assert changelist.queryset.db == "replica"
    settings.STREAM_EXPORTS = {}
    assert query.row_plan(None).queryset.db == "default"
    assert RowPlan.for_dataset(dataset, Order.objects.using("other"), ("id",)).queryset.db == (
        "other"
    )


#: (after, limit): from the start, a page, past the end of the filtered rows.
WINDOWS = [(None, 300), (100, 250), (1500, None), (1950, 10)]


def plan_of(after, limit) -> RowPlan:
    rows = Order.objects.filter(paid=True, id__lte=2000)
    fields = ("id", "amount", "note", "data")
    return RowPlan.for_dataset(registry.get("orders"), rows, fields, after, limit)


@pytest.mark.parametrize(("after", "limit"), WINDOWS)
def test_every_reader_reads_what_select_selects(world, after, limit):
    plan = plan_of(after, limit)
    expected = list(plan.select(after, limit))
    assert expected and len(expected) <= (limit or len(expected))
    streamed = (streamed_batches,) if sends_in_chunks("default") else ()
    for reader in (cursor_batches, keyset_batches, *streamed):
        assert [row for batch in reader(plan, 97) for row in batch] == expected, reader.__name__


@pytest.mark.parametrize(("after", "limit"), WINDOWS)
def test_copy_reads_what_select_selects(postgres, settings, after, limit):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": True, "COPY_CHUNK_BYTES": 4096}
    plan = plan_of(after, limit)
    expected = list(plan.select(after, limit, json_as_text=False))
    batches = copy_batches(plan, plan.columns)
    assert batches is not None, "the COPY path should serve these fields"
    records, lasts = [], []
    for chunk, count, last in batches:
        lines = chunk.splitlines()
        assert len(lines) == count
        records += [json.loads(line) for line in lines]
        lasts.append(last)
    assert [r["id"] for r in records] == [row[0] for row in expected]
    assert [r["data"] for r in records] == [row[3] for row in expected]
    assert lasts[-1] == expected[-1][0]
