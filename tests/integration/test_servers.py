"""Streaming claims, checked against real gunicorn and uvicorn processes on loopback."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal

import pytest
import requests

from ..sessions import end_session, export_sessions

pytestmark = pytest.mark.servers


def timed_lines(url: str) -> tuple[list[bytes], list[float]]:
    """Every line of the response and when (seconds after the request) it arrived."""
    started = time.perf_counter()
    lines, times = [], []
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        assert "Content-Length" not in response.headers
        assert response.headers["Transfer-Encoding"] == "chunked"
        for line in response.iter_lines(chunk_size=65536):
            lines.append(line)
            times.append(time.perf_counter() - started)
    return lines, times


def test_first_line_arrives_long_before_the_last(server, signed, world):
    timed_lines(server.url + signed({"limit": 1}))  # warm: imports, the pool's first connection
    lines, times = timed_lines(server.url + signed())
    assert json.loads(lines[-1]) == {
        "_stream": {"status": "complete", "rows": world["rows"], "last": world["rows"]}
    }
    assert len(lines) == world["rows"] + 1
    # The first record reaches the client while the server is still producing:
    # well before the last one (a buffered response would deliver both together).
    assert times[0] < times[-1] / 5, (times[0], times[-1])


def test_server_memory_stays_flat_as_rows_grow(server, signed, world):
    def export(limit: int) -> tuple[int, int]:
        """The worker's peak RSS after exporting ``limit`` rows, and the bytes it sent."""
        lines, _ = timed_lines(server.url + signed({"limit": limit}))
        assert json.loads(lines[-1])["_stream"]["rows"] == limit
        return server.peak_rss(), sum(len(line) + 1 for line in lines)

    export(world["rows"] // 50)  # warm up: imports, connection, caches
    small, _ = export(world["rows"] // 10)
    large, sent = export(world["rows"])
    # A server holding the response (or its rows) would grow by at least what it sent.
    assert large - small < sent / 2, f"peak RSS grew {(large - small) / 2**20:.1f} MiB"


@pytest.fixture(scope="session")
def database_rows(world, django_db_blocker) -> dict[int, tuple]:
    """Every seeded order as the ORM reads it, by id."""
    from tests.testapp.models import Order
    from tests.testapp.seed import COLUMNS

    with django_db_blocker.unblock():
        return {row[0]: row for row in Order.objects.values_list(*COLUMNS)[:ROUND_TRIP]}


ROUND_TRIP = 10_000  # ~2,000 with a line separator in their note


@pytest.mark.parametrize("decode_unicode", [False, True])
def test_iter_lines_round_trips_every_field(server, signed, database_rows, decode_unicode):
    from tests.testapp.seed import COLUMNS

    url = server.url + signed({"limit": ROUND_TRIP})
    with requests.get(url, stream=True, timeout=60) as response:
        assert response.encoding == "utf-8"
        records = [json.loads(line) for line in response.iter_lines(decode_unicode=decode_unicode)]
    assert records.pop() == {
        "_stream": {"status": "complete", "rows": ROUND_TRIP, "last": ROUND_TRIP}
    }
    assert [r["id"] for r in records] == list(database_rows)
    tricky = 0
    for record in records:
        row = dict(zip(COLUMNS, database_rows[record["id"]], strict=True))
        assert Decimal(record["amount"]) == row["amount"]
        assert record["amount"] == f"{row['amount']:.2f}"
        assert dt.datetime.fromisoformat(record["created_at"]) == row["created_at"]
        for name in ("customer", "email", "quantity", "paid", "note", "data"):
            assert record[name] == row[name], (record["id"], name)
        tricky += any(c in (row["note"] or "") for c in "\r\n\u2028\u2029\x85")
    assert tricky > 1000


def test_cut_download_resumes_with_after(server, signed, world):
    url = server.url + signed({"fields": "id,customer"})
    seen: list[int] = []
    with requests.get(url, stream=True, timeout=60) as response:
        for line in response.iter_lines():
            seen.append(json.loads(line)["id"])
            if len(seen) == 12_345:
                break  # the connection is dropped here, mid-stream
    assert "_stream" not in json.dumps(seen)
    resumed, _ = timed_lines(server.url + signed({"fields": "id,customer"}) + f"&after={seen[-1]}")
    trailer = json.loads(resumed.pop())["_stream"]
    assert trailer == {"status": "complete", "rows": world["rows"] - 12_345, "last": world["rows"]}
    ids = seen + [json.loads(line)["id"] for line in resumed]
    assert ids == list(range(1, world["rows"] + 1))


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_client_hang_up_ends_the_query(server, signed, world, sessions_seen):
    def held() -> list[tuple[int, str]]:
        return export_sessions(server.worker(), world["db_url"])

    with requests.get(server.url + signed(), stream=True, timeout=60) as response:
        lines = response.iter_lines()
        next(lines)
        assert wait_for(held)
    # Gone: no query runs on and no transaction holds the export's connection (on
    # MariaDB, where keyset pages leave it idle between queries, the session itself ends).
    assert wait_for(lambda: not held()), held()


def test_database_failure_mid_stream_ends_with_an_error_trailer(
    server, signed, world, sessions_seen
):
    with requests.get(server.url + signed(), stream=True, timeout=60) as response:
        lines = response.iter_lines()
        first = json.loads(next(lines))
        (session, _), *_ = export_sessions(server.worker(), world["db_url"])
        end_session(world["db_url"], session)  # pg_terminate_backend; KILL on MariaDB
        rest = [json.loads(line) for line in lines]
    trailer = rest.pop()["_stream"]
    assert trailer["status"] == "error"
    assert "database error" in trailer["error"]
    assert trailer["retry"] is True  # a lost connection: the client resumes
    assert trailer["rows"] == len(rest) + 1 < world["rows"]
    assert trailer["last"] == (rest[-1]["id"] if rest else first["id"])
