"""Streaming claims, checked against real gunicorn and uvicorn processes on loopback."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
import zipfile
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from ..conftest import server_env
from ..servers import Server, run_server
from ..sessions import end_session, export_sessions
from ..spreadsheets import count_rows

pytestmark = pytest.mark.servers


def timed_lines(url: str) -> tuple[list[bytes], list[float]]:
    """Every line of the response and when (seconds after the request) it arrived."""
    return timed(url, lambda response: response.iter_lines(chunk_size=65536))


def timed_chunks(url: str) -> tuple[list[bytes], list[float]]:
    """Every chunk of the response as it came, and when it arrived."""
    return timed(url, lambda response: response.iter_content(chunk_size=None))


def timed(url: str, pieces) -> tuple[list[bytes], list[float]]:
    started = time.perf_counter()
    got, times = [], []
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        assert "Content-Length" not in response.headers
        assert response.headers["Transfer-Encoding"] == "chunked"
        for piece in pieces(response):
            got.append(piece)
            times.append(time.perf_counter() - started)
    return got, times


def rows_of(format: str, pieces: list[bytes]) -> int:
    """The rows of a whole NDJSON export (its lines, checked by the trailer), of a CSV
    export (its records, less the header), or of a workbook (its first sheet's, less the
    header)."""
    if format == "ndjson":
        trailer = json.loads(pieces[-1])["_stream"]
        assert trailer["status"] == "complete" and trailer["rows"] == len(pieces) - 1
        return trailer["rows"]
    if format == "csv":
        text = b"".join(pieces).decode()
        return sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    return count_rows(archive, "xl/worksheets/sheet1.xml") - 1


#: An export's pieces: NDJSON's lines, CSV's and a workbook's chunks.
READERS = {"ndjson": timed_lines, "csv": timed_chunks, "xlsx": timed_chunks}


@pytest.mark.parametrize("format", READERS)
def test_the_first_bytes_arrive_long_before_the_last(server, signed, world, format):
    READERS[format](server.url + signed({"limit": 1}, format=format))  # warm: imports...
    pieces, times = READERS[format](server.url + signed(format=format))
    assert rows_of(format, pieces) == world["rows"]
    if format == "ndjson":
        assert json.loads(pieces[-1])["_stream"]["last"] == world["rows"]
    # The first bytes reach the client while the server is still reading rows: well
    # before the last ones (a buffered response would deliver both together).
    assert times[0] < times[-1] / 5, (times[0], times[-1])


@pytest.fixture(params=["gunicorn", "uvicorn"])
def own_server(request: pytest.FixtureRequest, world, tmp_path) -> Iterator[Server]:
    """A server started for one test: no other test's stream (one still ending, say) shares
    its memory. A chunk is 500 rows: a stream's working set is a chunk's rows and their
    encodings, whatever the rows, and at the default 2,000 it is about as large (5-10 MiB
    of peak, measured) as the growth this test looks for."""
    with run_server(request.param, server_env(world, CHUNK_SIZE=500), tmp_path) as running:
        yield running


@pytest.mark.parametrize("format", READERS)
def test_server_memory_stays_flat_as_rows_grow(own_server, signed, world, format):
    def export(limit: int) -> tuple[int, int]:
        """The worker's peak RSS after exporting ``limit`` rows, and the bytes it made."""
        url = own_server.url + signed({"limit": limit}, format=format)
        pieces, _ = READERS[format](url)
        assert rows_of(format, pieces) == limit
        return own_server.peak_rss(), made(format, pieces)

    # Warm up at the small size: imports, the connection, caches and chunk-sized buffers.
    export(world["rows"] // 10)
    small, _ = export(world["rows"] // 10)
    large, size = export(world["rows"])
    # A server holding what it made (its rows, its lines or sheet XML) would grow by more.
    assert large - small < size / 2, f"peak RSS grew {(large - small) / 2**20:.1f} MiB"


def made(format: str, pieces: list[bytes]) -> int:
    """The bytes an export made: NDJSON's lines, CSV's body; a workbook's parts before
    they were deflated (one buffered whole, compressed, the timing test above tells)."""
    if format == "ndjson":
        return sum(len(line) + 1 for line in pieces)
    if format == "csv":
        return sum(map(len, pieces))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    return sum(info.file_size for info in archive.infolist())


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
