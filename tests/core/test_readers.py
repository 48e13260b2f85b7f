"""Readers: the stream, cursor and keyset engines give the same rows; keyset pages of any
ordering; PostgreSQL's chunked stream and C timestamp loader."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models import F
from django.db.models.functions import Lower
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext

from stream_exports.core import readers
from stream_exports.core.datasets import registry
from stream_exports.core.plan import RowPlan
from stream_exports.core.query import parse_export_query
from stream_exports.core.readers import fast_timestamps, keyset_batches, row_batches
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db


def get(signed: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return Client().get(signed(params), **kwargs)


@pytest.mark.parametrize("setting", ["stream", "cursor", "keyset"])
def test_every_engine_give_the_same_bytes(signed, settings, setting):
    params = {"after": 123, "limit": 4567, "paid": "false"}
    settings.STREAM_EXPORTS = {"ENGINE": "cursor", "CHUNK_SIZE": 1000, "COPY_FAST_PATH": False}
    expected = b"".join(get(signed, params).streaming_content)
    settings.STREAM_EXPORTS = {"ENGINE": setting, "CHUNK_SIZE": 333, "COPY_FAST_PATH": False}
    assert b"".join(get(signed, params).streaming_content) == expected


def test_auto_streams_on_postgresql_and_pages_where_django_streams_no_result_set(settings):
    settings.STREAM_EXPORTS = {"ENGINE": "auto"}
    conn = connections["default"]
    # PostgreSQL sends a query's rows in chunks (libpq 17+, in psycopg's binary package);
    # Django reads MySQL/MariaDB results whole into the client: keyset pages there.
    expected = {"postgresql": "stream", "sqlite": "cursor"}.get(conn.vendor, "keyset")
    assert readers.choose_engine("default") == expected
    conn.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:  # a pooler in transaction mode: one statement streams, a cursor could not
        assert readers.choose_engine("default") == ("stream" if expected == "stream" else "keyset")
    finally:
        del conn.settings_dict["DISABLE_SERVER_SIDE_CURSORS"]


def test_stream_asked_for_where_it_cannot_be_is_what_auto_picks_there(settings):
    settings.STREAM_EXPORTS = {"ENGINE": "auto"}
    otherwise = readers.choose_engine("default")
    settings.STREAM_EXPORTS = {"ENGINE": "stream"}
    chunked = readers.sends_in_chunks("default")
    assert readers.choose_engine("default") == ("stream" if chunked else otherwise)
    assert chunked == (connection.vendor == "postgresql")  # the binary package has libpq 17+


ORDERS = registry.get("orders")
FIELDS = ("id", "customer", "note", "amount", "created_at", "data")


@pytest.mark.parametrize("ordered", [False, True], ids=["cursor order", "an ordering"])
def test_keyset_reads_one_page_per_batch_as_the_batches_are_taken(world, ordered):
    if ordered:
        plan = RowPlan.in_queryset_order(ORDERS, Order.objects.order_by("-note"), FIELDS)
    else:
        plan = RowPlan.for_dataset(ORDERS, Order.objects.all(), FIELDS)
    with CaptureQueriesContext(connection) as queries:
        batches = keyset_batches(plan, 100)
        for taken in range(1, 4):
            assert len(next(batches)) == 100
            assert len(queries) == taken  # nothing read ahead, nothing read whole
    assert all("LIMIT 100" in query["sql"] for query in queries)


#: Orders with ties and NULLs to cut pages in: notes (30 % NULL, a dozen values, emoji,
#: line separators), customers (ten names, non-ASCII and emoji), both directions, NULLs
#: placed either way, datetimes with microseconds, decimals.
ORDERINGS = [
    ("note",),
    ("-note",),
    ("customer", "-created_at"),
    ("-paid", "note", "-amount"),
    (F("note").asc(nulls_last=True), "-id"),
    (F("note").desc(nulls_first=True),),
    (Lower("customer").desc(), "note"),
    ("-created_at",),
]


@pytest.mark.parametrize("ordering", ORDERINGS, ids=str)
def test_keyset_pages_of_an_ordering_with_ties_and_nulls_give_each_row_once_in_order(
    world, ordering
):
    queryset = Order.objects.filter(id__lte=700).order_by(*ordering)
    plan = RowPlan.in_queryset_order(ORDERS, queryset, FIELDS)
    rows = [row[: len(FIELDS)] for batch in keyset_batches(plan, 7) for row in batch]
    # The database's own order of the same rows, its ties broken by the cursor.
    assert rows == list(replace(plan, ordering=plan.order_keys).select(None, None))
    assert sorted(row[0] for row in rows) == list(range(1, 701))


def timestamptz_loader() -> type:
    from psycopg.pq import Format

    adapters = connection.connection.adapters
    return adapters.get_loader(adapters.types["timestamptz"].oid, Format.TEXT)


def orm_plan(query: str, settings, engine: str):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": False, "ENGINE": engine, "CHUNK_SIZE": 100}
    return parse_export_query(registry.get("orders"), QueryDict(query)).row_plan(None)


@pytest.mark.parametrize("engine", ["stream", "cursor", "keyset"])
def test_the_export_reads_with_the_c_loader_and_gives_django_its_own_back(
    postgres, settings, engine
):
    connection.ensure_connection()
    django_loader = timestamptz_loader()
    batches = row_batches(orm_plan("fields=id,created_at&limit=250", settings, engine))
    first = next(batches)
    if engine != "keyset":  # held while the query is open (keyset: per page)
        assert timestamptz_loader().__name__ == "CTimestamptzLoader"
    rows = first + [row for batch in batches for row in batch]
    assert timestamptz_loader() is django_loader
    expected = list(Order.objects.order_by("id").values_list("id", "created_at")[:250])
    assert rows == expected  # the same instants
    assert all(r[1].utcoffset() == dt.timedelta(0) for r in rows)


@pytest.mark.parametrize("engine", ["stream", "cursor"])
def test_a_stream_closed_early_gives_the_loader_back(postgres, settings, engine):
    """A client that hangs up closes the generator mid-read."""
    connection.ensure_connection()
    django_loader = timestamptz_loader()
    batches = row_batches(orm_plan("fields=id,created_at", settings, engine))
    next(batches)
    batches.close()
    assert timestamptz_loader() is django_loader
    # Django's own reads are untouched: its loader, its zone object.
    created = Order.objects.values_list("created_at", flat=True).first()
    assert created.tzinfo is connection.timezone


def test_a_failure_inside_gives_the_loader_back(postgres):
    connection.ensure_connection()
    django_loader = timestamptz_loader()
    with pytest.raises(RuntimeError), fast_timestamps("default"):
        assert timestamptz_loader() is not django_loader
        raise RuntimeError("boom")
    assert timestamptz_loader() is django_loader


def test_without_use_tz_django_keeps_its_loader(postgres, settings):
    """Django drops the zone then (naive datetimes); the C loader would keep it."""
    settings.USE_TZ = False
    connection.ensure_connection()
    django_loader = timestamptz_loader()
    with fast_timestamps("default"):
        assert timestamptz_loader() is django_loader


def running_queries() -> list[str]:
    """What this database's other sessions are running now."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_stream_closed_early_cancels_its_query_and_leaves_the_connection_usable(
    postgres, world, settings
):
    """The database stops sending (not: sends the rest into a closed generator)."""
    batches = row_batches(orm_plan("fields=id,customer,note", settings, "stream"))
    assert len(next(batches)) == 100
    batches.close()
    assert Order.objects.count() == world["rows"]  # the same connection, at once
    assert not [q for q in running_queries() if "tests_order" in q.lower()]


def test_a_stream_with_nothing_to_read_runs_no_query(postgres, settings):
    """A filter on an empty list: Django knows there are no rows without asking."""
    plan = orm_plan("fields=id", settings, "stream")
    plan = replace(plan, queryset=plan.queryset.filter(id__in=[]))
    with CaptureQueriesContext(connection) as queries:
        assert list(row_batches(plan)) == []
    assert len(queries) == 0


def test_a_stream_cut_by_the_database_raises_djangos_error(postgres, settings):
    """What the trailer's ``retry`` is decided on: Django's class, not psycopg's."""
    from django.db import OperationalError

    plan = orm_plan("fields=id", settings, "stream")
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 1")
    plan = replace(plan, queryset=plan.queryset.extra(where=["pg_sleep(0.01) IS NOT NULL"]))
    try:
        with pytest.raises(OperationalError, match="statement timeout"):
            list(row_batches(plan))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
