"""Jobs watched live over real servers: SSE, the plain-text log and polling, at once."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from stream_exports.conf import conf
from stream_exports.models import JobEvent

from ..servers import (
    Server,
    run_server,
    run_worker,
    server_env,
    sse_events,
    start_job,
    wait_for_status,
)

pytestmark = pytest.mark.servers


def curl_log(url: str) -> subprocess.Popen:
    """``curl -N`` on the log, as a person would."""
    return subprocess.Popen(["curl", "-sN", "--max-time", "120", url], stdout=subprocess.PIPE)


def poll_status(url: str, into: list[dict]) -> None:
    while True:
        status = requests.get(url, timeout=30).json()
        into.append(status)
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return
        time.sleep(0.1)


def test_three_watchers_see_every_step_and_the_same_end(server: Server, world):
    job = start_job(server.url, world, {})
    links = {name: server.url + link for name, link in job["links"].items()}
    log = curl_log(links["log"])
    polled: list[dict] = []
    poller = threading.Thread(target=poll_status, args=(links["self"], polled))
    poller.start()
    events = sse_events(links["events"])
    poller.join(60)
    log_lines = log.communicate(timeout=60)[0].decode().splitlines()

    ids = [e[1] for e in events]
    assert ids == list(range(1, len(ids) + 1)), "an event was lost or repeated"
    assert [e[0] for e in events].count("done") == 1 and events[-1][0] == "done"
    rows = [e[2]["rows"] for e in events]
    assert rows == sorted(rows)
    assert len(set(rows)) > 3, "progress was not reported while the job ran"
    statuses = [e[2]["status"] for e in events]
    assert statuses[0] == "queued" and "running" in statuses
    end = events[-1][2]
    assert (end["status"], end["rows"], end["total"]) == ("succeeded", world["rows"], world["rows"])
    assert (polled[-1]["status"], polled[-1]["rows"]) == ("succeeded", world["rows"])
    assert [p["rows"] for p in polled] == sorted(p["rows"] for p in polled)
    assert f"succeeded: {world['rows']} rows" in log_lines[-1]
    assert "queued" in log_lines[0] and "running" in log_lines[1]
    took = dt.datetime.fromisoformat(end["finished_at"]) - dt.datetime.fromisoformat(
        end["started_at"]
    )
    if took.total_seconds() > 2 * conf.JOB_LOG_INTERVAL:  # long enough to log its progress
        assert any("rows/s" in line for line in log_lines)
    download = requests.get(links["download"], timeout=60)
    assert download.text.splitlines()[-1] == json.dumps(
        {"_stream": {"status": "complete", "rows": world["rows"], "last": world["rows"]}},
        separators=(",", ":"),
    )


def test_reconnecting_with_last_event_id_loses_and_repeats_nothing(server: Server, world):
    job = start_job(server.url, world, {})
    url = server.url + job["links"]["events"]
    first = sse_events(url, stop_after=3)
    rest = sse_events(url, last_event_id=str(first[-1][1]))
    ids = [e[1] for e in first + rest]
    assert ids == list(range(1, len(ids) + 1))
    assert rest[-1][0] == "done"


@pytest.fixture(scope="module")
def worker_setup(world, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """uvicorn for the API, jobs in worker processes. With Redis, polling is made too slow
    to pass the push test: only a push across processes can. Progress every 50 ms: a job
    is seen running with rows well before it ends."""
    tmp = tmp_path_factory.mktemp("workers")
    env = server_env(
        world,
        JOB_RUNNER="stream_exports.runners.WorkerRunner",
        JOB_PROGRESS_INTERVAL=0.05,
        JOB_HEARTBEAT=0.5,
        JOB_STALE_AFTER=3,
        POLL_INTERVAL=30 if world["redis"] else 0.5,
        CHUNK_SIZE=1000,
    )
    with run_server("uvicorn", env, tmp) as server:
        yield {"server": server, "env": env, "tmp": tmp}


def worker(setup: dict[str, Any]):
    return run_worker("export_worker", setup["env"], setup["tmp"] / "worker.log")


def test_a_killed_worker_fails_its_job_and_a_new_job_succeeds(worker_setup, world):
    server = worker_setup["server"]
    job = start_job(server.url, world, {})
    links = {name: server.url + link for name, link in job["links"].items()}
    with worker(worker_setup) as process:
        wait_for_status(links["self"], lambda s: s["status"] == "running" and s["rows"] > 0)
        process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        log_lines = requests.get(links["log"], timeout=60).text.splitlines()
    failed = wait_for_status(links["self"], lambda s: s["status"] != "running")
    assert time.monotonic() - killed_at < 3 + 2  # JOB_STALE_AFTER, plus a poll or two
    assert failed["status"] == "failed"
    assert "stopped (last heartbeat" in failed["error"]
    assert log_lines[-1].endswith(failed["error"]) and " failed: " in log_lines[-1]
    assert requests.get(links["download"], timeout=30).status_code == 409

    again = start_job(server.url, world, {})
    with worker(worker_setup):
        done = wait_for_status(
            server.url + again["links"]["self"],
            lambda s: s["status"] != "queued" and s["status"] != "running",
        )
    assert (done["status"], done["rows"]) == ("succeeded", world["rows"])


def test_progress_is_pushed_across_processes_within_a_second(
    worker_setup, world, django_db_blocker
):
    if not world.get("redis"):
        pytest.skip("REDIS_URL is not set: no channel layer reaches other processes")
    server = worker_setup["server"]
    job = start_job(server.url, world, {"fields": "id,customer"})
    with worker(worker_setup):
        events = sse_events(server.url + job["links"]["events"])
    with django_db_blocker.unblock():
        written = dict(JobEvent.objects.filter(job_id=job["id"]).values_list("seq", "at"))
    # POLL_INTERVAL is 30 s here: only a push gets an event out this fast.
    delays = sorted(arrived - written[seq].timestamp() for _, seq, _, arrived in events[1:])
    assert delays[-1] < 1.0, delays


def test_with_redis_gone_streams_fall_back_to_polling(world, tmp_path, django_db_blocker):
    env = server_env(world, CHUNK_SIZE=1000)
    env["REDIS_URL"] = "redis://127.0.0.1:9/0"  # nothing listens there
    with run_server("uvicorn", env, tmp_path) as server:
        sse_events(server.url + start_job(server.url, world, {"limit": 1})["links"]["events"])
        job = start_job(server.url, world, {})  # (the first warmed the server)
        events = sse_events(server.url + job["links"]["events"])
        log = requests.get(server.url + job["links"]["log"], timeout=60)
    ids = [e[1] for e in events]
    assert ids == list(range(1, len(ids) + 1))
    assert events[-1][2]["status"] == "succeeded"
    assert log.status_code == 200 and "succeeded" in log.text.splitlines()[-1]
    # Each event within a second of its write: polling (POLL_INTERVAL 0.5 s) took over.
    with django_db_blocker.unblock():
        written = dict(JobEvent.objects.filter(job_id=job["id"]).values_list("seq", "at"))
    delays = [arrived - written[seq].timestamp() for _, seq, _, arrived in events[1:]]
    assert max(delays) < 1.0, delays
