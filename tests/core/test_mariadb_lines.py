"""MariaDB's fast path: the same lines as the ORM path, written by the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from stream_exports.core.datasets import registry
from stream_exports.core.mariadb import line_expression
from stream_exports.core.query import parse_export_query

from .test_pgcopy import QUERIES, assert_same_lines, export

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", QUERIES)
def test_mariadb_lines_equal_the_orm_lines(mariadb, settings, query):
    assert_same_lines(query, settings)  # JSON fields too: both embed the stored text


def test_the_fast_path_is_used_on_mariadb(mariadb, settings):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": True}
    plan = parse_export_query(registry.get("orders"), QueryDict("")).row_plan(None)
    line = line_expression(plan, tuple(registry.get("orders").fields))
    assert line is not None and "JSON_QUOTE" in line.sql


@pytest.mark.parametrize("query", ["fields=customer,note", ""])
def test_the_fast_path_steps_aside_when_it_cannot_serve(world, settings, query):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": query != ""}
    parsed = parse_export_query(registry.get("orders"), QueryDict(query))
    # Without the cursor among the fields (its last value ends the trailer), when off, or
    # on another database.
    assert line_expression(parsed.row_plan(None), parsed.fields) is None


def new_orders(texts: list[str | None], moments: list[datetime] | None = None) -> int:
    """Orders with these notes (and customers), after every other; the id before them."""
    from tests.testapp.models import Order

    start = Order.objects.order_by("-id").values_list("id", flat=True).first()
    for index, text in enumerate(texts):
        Order.objects.create(
            customer=text or "-",
            email="e@example.com",
            amount=Decimal("0.10"),
            quantity=0,
            created_at=(moments or [datetime(2024, 5, 1, tzinfo=UTC)] * len(texts))[index],
            note=text,
            data={"s": "x\u2028y", "n": [1.5, None, True], "t": text},
        )
    return start


def test_edge_values_come_out_as_the_orm_writes_them(mariadb, settings):
    """Whole seconds (isoformat drops the fraction), fractions with leading and trailing
    zeros, the control characters MariaDB escapes in upper case (after escaped
    backslashes too), line separators in a NOT NULL text column and inside JSON."""
    moments = [
        datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    texts = ["a\u2028b\u0085c\u2029d", "\x0b\\u000B\\\x1f", "\\\\u001F\x1a\x0e\x0f", None]
    start = new_orders(texts, moments)
    fast, slow = (export(f"after={start}", mode, settings) for mode in (True, False))
    assert fast == slow
    records = [json.loads(line) for line in fast[:-1]]
    assert [r["created_at"] for r in records] == [m.isoformat() for m in moments]
    assert [r["note"] for r in records] == texts
    assert records[0]["data"] == {"s": "x\u2028y", "n": [1.5, None, True], "t": texts[0]}
    assert records[1]["customer"] == texts[1] and records[0]["amount"] == "0.10"
    assert b"\\u000b\\\\u000B\\\\\\u001f" in fast[1]  # orjson's escapes, the text kept
    for separator in ("\u2028", "\u2029", "\x85"):
        assert separator.encode() not in b"\n".join(fast)


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@given(texts=st.lists(TEXT, min_size=1, max_size=5))
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_text_comes_out_as_the_orm_writes_it(mariadb, settings, texts):
    start = new_orders(texts)  # (each example's orders after the ones before)
    query = f"after={start}&fields=id,customer,note"
    assert export(query, True, settings) == export(query, False, settings)
