"""Readers: the cursor and keyset engines give the same rows; PostgreSQL's C timestamp loader."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection, connections
from django.http import QueryDict
from django.test import Client

from stream_exports.core import readers as engine
from stream_exports.core.datasets import registry
from stream_exports.core.query import parse_export_query
from stream_exports.core.readers import fast_timestamps, row_batches
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db


def get(signed: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return Client().get(signed(params), **kwargs)


@pytest.mark.parametrize("setting", ["cursor", "keyset"])
def test_both_engines_give_the_same_bytes(signed, settings, setting):
    params = {"after": 123, "limit": 4567, "paid": "false"}
    settings.STREAM_EXPORTS = {"ENGINE": "cursor", "CHUNK_SIZE": 1000, "COPY_FAST_PATH": False}
    expected = b"".join(get(signed, params).streaming_content)
    settings.STREAM_EXPORTS = {"ENGINE": setting, "CHUNK_SIZE": 333, "COPY_FAST_PATH": False}
    assert b"".join(get(signed, params).streaming_content) == expected


def test_keyset_is_chosen_without_server_side_cursors(settings):
    settings.STREAM_EXPORTS = {"ENGINE": "auto"}
    conn = connections["default"]
    assert engine.choose_engine("default") == "cursor"
    conn.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        assert engine.choose_engine("default") == "keyset"
    finally:
        del conn.settings_dict["DISABLE_SERVER_SIDE_CURSORS"]


def timestamptz_loader() -> type:
    from psycopg.pq import Format

    adapters = connection.connection.adapters
    return adapters.get_loader(adapters.types["timestamptz"].oid, Format.TEXT)


def orm_plan(query: str, settings, engine: str):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": False, "ENGINE": engine, "CHUNK_SIZE": 100}
    return parse_export_query(registry.get("orders"), QueryDict(query)).row_plan(None)


@pytest.mark.parametrize("engine", ["cursor", "keyset"])
def test_the_export_reads_with_the_c_loader_and_gives_django_its_own_back(
    postgres, settings, engine
):
    connection.ensure_connection()
    django_loader = timestamptz_loader()
    batches = row_batches(orm_plan("fields=id,created_at&limit=250", settings, engine))
    first = next(batches)
    if engine == "cursor":  # held while the cursor is open (keyset: per page)
        assert timestamptz_loader().__name__ == "CTimestamptzLoader"
    rows = first + [row for batch in batches for row in batch]
    assert timestamptz_loader() is django_loader
    expected = list(Order.objects.order_by("id").values_list("id", "created_at")[:250])
    assert rows == expected  # the same instants
    assert all(r[1].utcoffset() == dt.timedelta(0) for r in rows)


def test_a_stream_closed_early_gives_the_loader_back(postgres, settings):
    """A client that hangs up closes the generator mid-read."""
    connection.ensure_connection()
    django_loader = timestamptz_loader()
    batches = row_batches(orm_plan("fields=id,created_at", settings, "cursor"))
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
