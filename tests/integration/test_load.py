"""Load: many exports and job streams at once, a fifth of the clients hanging up mid-stream.

Every export that completes is complete and correct; afterwards no database
connection, server thread or memory is left behind.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
import pytest
import requests

from stream_exports.links.signing import sign_url

from ..servers import Server, run_server, server_env
from ..sessions import database_sessions, is_mysql, max_connections

pytestmark = [pytest.mark.servers, pytest.mark.load]

EXPORTS, STREAMS, ROWS, HANG_UP = 50, 200, 5000, 0.2
POOL = 40  # the server's DATABASE_POOL_SIZE: far fewer than its clients, who must share
# The threads a server keeps by design however many clients came, each made on first use:
# the main thread, psycopg_pool's scheduler and 3 workers, the push sender's loop (jobs
# running in the server push through Redis), and the server's own pool: gunicorn's 300
# gthreads; under ASGI asgiref's one shared executor thread, which the first job feed
# makes (only if a stream joins a job still running, so in either round).
GUNICORN_THREADS = 300  # (tests/servers.py)
KEPT_THREADS = {"gunicorn": 1 + 4 + 1 + GUNICORN_THREADS, "uvicorn": 1 + 4 + 1 + 1}


@pytest.fixture(scope="module", params=["gunicorn", "uvicorn"])
def loaded_server(request, world, tmp_path_factory) -> Iterator[Server]:
    if world["db_url"].startswith("sqlite"):
        pytest.skip("SQLite has one writer, for embedded use: load is measured on the servers")
    kind = request.param
    if kind == "gunicorn" and is_mysql(world["db_url"]):
        # Django pools only PostgreSQL's connections: on MariaDB each of gunicorn's threads
        # may hold a session of its own, and the database must allow that many.
        allowed = max_connections(world["db_url"])
        if allowed < GUNICORN_THREADS + 20:
            pytest.skip(
                f"MariaDB allows {allowed} connections (max_connections), fewer than "
                f"gunicorn's {GUNICORN_THREADS} threads may hold (Django pools none there)"
            )
    env = server_env(
        world, MAX_STREAMS=1000, MAX_STREAMS_PER_USER=1000, MAX_JOBS_PER_USER=100, HEARTBEAT=2
    )
    env["DATABASE_POOL_SIZE"] = str(POOL)
    with run_server(kind, env, tmp_path_factory.mktemp(f"load-{kind}")) as server:
        yield server


def export(base: str, url: str, after: int, hang_up: bool) -> dict[str, Any]:
    """Read one export (``url`` signed with ``after``, its floor); ``hang_up`` drops the
    connection part way."""
    ids: list[int] = []
    with requests.get(base + url, stream=True, timeout=120) as response:
        assert response.status_code == 200, (response.status_code, response.text[:500])
        for line in response.iter_lines():
            record = json.loads(line)
            if "_stream" in record:
                return {"ids": ids, "trailer": record["_stream"], "after": after}
            ids.append(record["id"])
            if hang_up and len(ids) >= ROWS // 3:
                return {"ids": ids, "trailer": None, "after": after}
    return {"ids": ids, "trailer": None, "after": after}


def follow(base: str, url: str, hang_up: bool, stop: threading.Event) -> str:
    """Follow an event or log stream until it ends (or hang up after a moment)."""
    deadline = time.monotonic() + (random.uniform(0.2, 1.5) if hang_up else 120)
    with requests.get(base + url, stream=True, timeout=120) as response:
        if response.status_code != 200:
            return f"status {response.status_code}"
        for _ in response.iter_content(chunk_size=None):
            if time.monotonic() > deadline or stop.is_set():
                return "hung up"
    return "ended"


def settle(process: psutil.Process, world, threads: int, timeout: float = 20) -> tuple[int, list]:
    """(threads, session states) once the threads are back within bounds and every session
    is in the pool and idle, or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        count = process.num_threads()
        sessions = [state for _, state in database_sessions(process, world["db_url"])]
        settled = len(sessions) <= POOL and set(sessions) <= {"idle"}
        if (count <= threads and settled) or time.monotonic() > deadline:
            return count, sessions
        time.sleep(0.2)


def url_of_one_row(world) -> str:
    return sign_url("/exports/orders.ndjson", world["users"]["staff"], {"limit": 1})


def load_round(base: str, world, seed: int) -> tuple[list[dict], list[str]]:
    """EXPORTS exports and STREAMS job streams at once; HANG_UP of each hang up part way."""
    staff = world["users"]["staff"]

    def url(after: int) -> str:  # (a signed after is a floor: each export signed with its own)
        return sign_url(
            "/exports/orders.ndjson",
            staff,
            {"limit": ROWS, "fields": "id,customer,note", "after": after},
        )

    jobs = [
        requests.post(base + sign_url("/exports/orders/jobs", staff, {}), timeout=30).json()
        for _ in range(4)
    ]
    rng = random.Random(seed)
    stop = threading.Event()
    with ThreadPoolExecutor(EXPORTS + STREAMS) as pool:
        streams = [
            pool.submit(
                follow,
                base,
                rng.choice(jobs)["links"][rng.choice(["events", "log"])],
                rng.random() < HANG_UP,
                stop,
            )
            for _ in range(STREAMS)
        ]
        afters = [rng.randrange(0, world["rows"] - ROWS) for _ in range(EXPORTS)]
        exports = [
            pool.submit(export, base, url(after), after, rng.random() < HANG_UP) for after in afters
        ]
        return [f.result(timeout=180) for f in exports], [f.result(timeout=180) for f in streams]


def test_many_exports_and_streams_with_hang_ups(loaded_server: Server, world):
    base, worker = loaded_server.url, loaded_server.worker()
    # A first round grows the server's own pools (gunicorn's threads, executors):
    # what a second round leaves on top of that would be a leak.
    load_round(base, world, seed=1)
    baseline, _ = settle(worker, world, 0, timeout=5)
    rss_before = worker.memory_info().rss

    results, outcomes = load_round(base, world, seed=2)

    complete = [r for r in results if r["trailer"] is not None]
    assert len(complete) >= EXPORTS * (1 - HANG_UP) - 10
    for result in complete:
        expected = list(range(result["after"] + 1, result["after"] + ROWS + 1))
        assert result["ids"] == expected
        assert result["trailer"] == {"status": "complete", "rows": ROWS, "last": expected[-1]}
    assert not [o for o in outcomes if o.startswith("status")], outcomes
    assert outcomes.count("ended") >= STREAMS * (1 - HANG_UP) - 20

    # A thread per request or per feed left behind would pass the kept ones within a round.
    allowed = max(baseline, KEPT_THREADS[loaded_server.kind])
    threads, sessions = settle(worker, world, allowed)
    assert threads <= allowed, f"server threads {baseline} -> {threads}"
    if is_mysql(world["db_url"]):
        # Django pools no MySQL/MariaDB connections: each ends with its request or stream.
        assert sessions == [], sessions
    else:
        # The pool bounds the sessions however many clients came and went, and none is left
        # mid-query or mid-transaction by a client that hung up.
        assert 0 < len(sessions) <= POOL, f"{len(sessions)} database sessions, pool of {POOL}"
        assert set(sessions) == {"idle"}, sessions
    # A connection checked out and never returned would starve this one (pool timeout 60 s).
    assert requests.get(base + url_of_one_row(world), timeout=30).status_code == 200
    grown = (worker.memory_info().rss - rss_before) / 2**20
    assert grown < 60, f"server memory grew {grown:.0f} MiB"
