"""Jobs run by task systems' own workers: django-tasks-db's ``db_worker`` and a Celery
worker (on Redis), each a real process beside a real server.

Each runner: a job end to end (queued, running, progress, done, the file downloaded); a
worker killed in the middle of a job (the next job's worker fails it as stale first, then
runs the next job; streams that follow a job reap it too, tested in test_job_servers.py);
a cancelled job that the worker stops.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from django.urls import reverse

from stream_exports.links.signing import sign_url
from stream_exports.models import ExportJob

from .. import servers
from ..servers import Server

pytestmark = pytest.mark.servers

#: Each runner, and the worker that runs its jobs.
RUNNERS = {
    "stream_exports.runners.DjangoTaskRunner": "db_worker",
    "stream_exports.runners.CeleryRunner": "celery",
}

FINISHED = ("succeeded", "failed", "cancelled")
STALE_AFTER = 3.0
#: Rows of the end-to-end job: enough for progress events while it runs, on a fast machine too.
ROWS = 50_000


@dataclass
class Setup:
    worker_kind: str
    server: Server
    env: dict[str, str]
    log: Path
    workers: ExitStack
    process: subprocess.Popen | None = None

    def worker(self) -> subprocess.Popen:
        """The runner's worker process (one per module), started anew if it died."""
        if self.process is None or self.process.poll() is not None:
            self.process = self.workers.enter_context(
                servers.run_worker(self.worker_kind, self.env, self.log)
            )
        return self.process

    def links(self, job: dict[str, Any]) -> dict[str, str]:
        return {name: self.server.url + link for name, link in job["links"].items()}


@pytest.fixture(scope="module", params=list(RUNNERS), ids=list(RUNNERS.values()))
def setup(request, world, tmp_path_factory) -> Iterator[Setup]:
    """uvicorn for the API, submitting jobs to the runner, and the runner's worker.
    Heartbeats every 0.2 s, stale after 3 s; a progress event every 20 ms at most."""
    tmp = tmp_path_factory.mktemp("task-runners")
    env = servers.server_env(
        world,
        JOB_RUNNER=request.param,
        JOB_HEARTBEAT=0.2,
        JOB_STALE_AFTER=STALE_AFTER,
        JOB_PROGRESS_INTERVAL=0.02,
        POLL_INTERVAL=0.2,
        CHUNK_SIZE=1000,
    )
    with servers.run_server("uvicorn", env, tmp) as server, ExitStack() as workers:
        yield Setup(RUNNERS[request.param], server, env, tmp / "worker.log", workers)


def job_process(job_id: str, django_db_blocker) -> psutil.Process:
    """The process running the job, as the job row names it (``host:pid:thread``)."""
    with django_db_blocker.unblock():
        worker = ExportJob.objects.values_list("worker", flat=True).get(pk=job_id)
    return psutil.Process(int(worker.split(":")[1]))


def runs_in(process: psutil.Process, worker) -> bool:
    """Whether ``process`` is the worker or one of its pool's processes."""
    return process.pid == worker.pid or process.ppid() == worker.pid


def test_a_job_runs_end_to_end_in_the_worker(setup: Setup, world, django_db_blocker):
    worker = setup.worker()
    started = time.monotonic()
    job = servers.start_job(setup.server.url, world, {"limit": ROWS})
    links = setup.links(job)
    events = servers.sse_events(links["events"])
    took = time.monotonic() - started
    assert runs_in(job_process(job["id"], django_db_blocker), worker)

    ids = [e[1] for e in events]
    assert ids == list(range(1, len(ids) + 1)), "an event was lost or repeated"
    statuses = [e[2]["status"] for e in events]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "succeeded"
    assert [e[0] for e in events].count("done") == 1 and events[-1][0] == "done"
    rows = [e[2]["rows"] for e in events]
    assert rows == sorted(rows)
    assert len({r for r in rows if 0 < r < ROWS}) > 1, "progress was not reported as it ran"
    assert (events[-1][2]["rows"], events[-1][2]["total"]) == (ROWS, ROWS)
    download = requests.get(links["download"], timeout=60)
    lines = download.content.splitlines()
    assert [json.loads(line)["id"] for line in lines[:-1]] == list(range(1, ROWS + 1))
    assert json.loads(lines[-1]) == {"_stream": {"status": "complete", "rows": ROWS, "last": ROWS}}
    log = requests.get(links["log"], timeout=30).text.splitlines()
    assert "queued" in log[0] and "running" in log[1]
    assert f"succeeded: {ROWS} rows" in log[-1]
    states = list(dict.fromkeys(statuses))
    print(f"{setup.worker_kind}: job {job['id']}, {ROWS} rows, {took:.1f} s, {len(events)} events")
    print(f"{setup.worker_kind}: states {states}")


def test_a_killed_worker_fails_its_job_when_the_next_job_starts(
    setup: Setup, world, django_db_blocker
):
    worker = setup.worker()
    job = servers.start_job(setup.server.url, world, {})
    links = setup.links(job)
    servers.wait_for_status(links["self"], lambda s: s["status"] == "running" and s["rows"] > 0)
    running = job_process(job["id"], django_db_blocker)
    assert runs_in(running, worker)
    running.send_signal(signal.SIGKILL)
    time.sleep(STALE_AFTER + 0.2)  # its last heartbeat is this old now; nobody watches it
    assert requests.get(links["self"], timeout=30).json()["status"] == "running"

    # db_worker ran the job itself: a new one starts. Celery's pool replaced its process.
    worker = setup.worker()
    again = servers.start_job(setup.server.url, world, {"limit": 1000})
    done = servers.wait_for_status(setup.links(again)["self"], lambda s: s["status"] in FINISHED)
    assert (done["status"], done["rows"]) == ("succeeded", 1000)
    assert runs_in(job_process(again["id"], django_db_blocker), worker)
    failed = requests.get(links["self"], timeout=30).json()
    assert failed["status"] == "failed" and "stopped (last heartbeat" in failed["error"]
    ended, started = (
        dt.datetime.fromisoformat(t) for t in (failed["finished_at"], done["started_at"])
    )
    assert ended <= started  # failed by the next job's worker, before it ran that job
    assert 0 < failed["rows"] < world["rows"]
    log = requests.get(links["log"], timeout=30).text.splitlines()
    assert log[-1].endswith(failed["error"]) and " failed: " in log[-1]
    assert requests.get(links["download"], timeout=30).status_code == 409


def test_a_cancelled_job_is_stopped_by_its_worker(setup: Setup, world, django_db_blocker):
    worker = setup.worker()
    job = servers.start_job(setup.server.url, world, {})
    links = setup.links(job)
    servers.wait_for_status(links["self"], lambda s: s["status"] == "running" and s["rows"] > 0)
    cancel = sign_url(
        reverse("stream_exports:job-cancel", args=[job["id"]]), world["users"]["staff"]
    )
    asked = requests.post(setup.server.url + cancel, timeout=30)
    assert asked.status_code == 202, asked.text
    ended = servers.wait_for_status(links["self"], lambda s: s["status"] in FINISHED, timeout=10)
    assert (ended["status"], ended["error"]) == ("cancelled", "cancelled on request")
    assert 0 < ended["rows"] < world["rows"]
    assert runs_in(job_process(job["id"], django_db_blocker), worker)
    assert worker.poll() is None, "the worker stopped with the job"
    log = requests.get(links["log"], timeout=30).text.splitlines()
    assert " cancelled: " in log[-1] and log[-1].endswith("cancelled on request")
    assert requests.get(links["download"], timeout=30).status_code == 409
