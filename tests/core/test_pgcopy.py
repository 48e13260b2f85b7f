"""The PostgreSQL COPY fast path: the same lines as the ORM path, from the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.http import QueryDict

from stream_exports.core.datasets import registry
from stream_exports.core.exports import Export
from stream_exports.core.pgcopy import line_sql
from stream_exports.core.query import parse_export_query

pytestmark = pytest.mark.django_db


def export(query: str, fast: bool, settings) -> list[bytes]:
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": fast, "CHUNK_SIZE": 700}
    parsed = parse_export_query(registry.get("orders"), QueryDict(query))
    return b"".join(Export.of_query(parsed, None).chunks()).splitlines()


#: Exports whose lines the database writes (tests/core/test_mariadb_lines.py too).
QUERIES = [
    "limit=20000",
    "fields=id,note,created_at,amount,paid&after=100&limit=5000",
    "paid=true&min_amount=90000&created_after=2024-01-02T00:00:00Z&created_before=2024-02-01T00:00:00Z",
]


def assert_same_lines(query: str, settings) -> None:
    """The database's lines are the ORM path's, byte for byte (the trailer too: rows and
    last cursor), and hold no raw line separator."""
    fast, slow = export(query, True, settings), export(query, False, settings)
    assert len(fast) == len(slow) > 1
    assert fast == slow
    raw = b"\n".join(fast)
    for separator in ("\u2028", "\u2029", "\x85", "\r"):
        assert separator.encode() not in raw


@pytest.mark.parametrize("query", QUERIES)
def test_copy_lines_equal_the_orm_lines(postgres, settings, query):
    assert_same_lines(query, settings)  # JSON fields too: both embed PostgreSQL's JSON text


def test_the_fast_path_is_used_on_postgresql(postgres, settings):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": True}
    plan = parse_export_query(registry.get("orders"), QueryDict("")).row_plan(None)
    sql, _ = line_sql(plan, tuple(registry.get("orders").fields))
    assert "to_json" in sql


@pytest.mark.parametrize("query", ["fields=customer,note", ""])
def test_the_fast_path_steps_aside_when_it_cannot_serve(world, settings, query):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": query != ""}
    parsed = parse_export_query(registry.get("orders"), QueryDict(query))
    # Without the cursor among the fields (its last value ends the trailer), or when off.
    assert line_sql(parsed.row_plan(None), parsed.fields) is None


def test_edge_values_come_out_as_the_orm_writes_them(postgres, settings):
    """Whole seconds (isoformat drops the fraction), fractions with leading and trailing
    zeros, line separators in a NOT NULL text column and inside JSON."""
    from tests.testapp.models import Order

    start = Order.objects.order_by("-id").values_list("id", flat=True).first()
    moments = [
        datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    for moment in moments:
        Order.objects.create(
            customer="a\u2028b\u0085c\u2029d",
            email="e@example.com",
            amount=Decimal("0.10"),
            quantity=0,
            created_at=moment,
            note=None,
            data={"s": "x\u2028y", "n": [1.5, None, True]},
        )
    fast, slow = (export(f"after={start}", mode, settings) for mode in (True, False))
    assert fast == slow
    records = [json.loads(line) for line in fast[:-1]]
    assert [r["created_at"] for r in records] == [m.isoformat() for m in moments]
    assert records[0]["customer"] == "a\u2028b\u0085c\u2029d"
    assert records[0]["data"] == {"s": "x\u2028y", "n": [1.5, None, True]}
    assert records[0]["note"] is None and records[0]["amount"] == "0.10"
    for separator in ("\u2028", "\u2029", "\x85"):
        assert separator.encode() not in b"\n".join(fast)
