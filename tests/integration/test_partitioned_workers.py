"""Partitioned jobs run by real workers, two of each kind: ``export_worker`` processes,
django-tasks-db's ``db_worker`` and Celery workers (on Redis), beside a real server.

Each kind: a job in 4 partitions gives the file of the same job in one, byte for byte
once decoded; a worker killed in one partition: that partition runs again, the file is
whole; a job cancelled mid-way stops every partition and leaves no piece behind.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from django.conf import settings
from django.urls import reverse

from stream_exports.links.signing import sign_url
from stream_exports.models import ExportJob, ExportPartition

from .. import servers
from ..servers import Server

pytestmark = pytest.mark.servers

#: Each runner, and the worker that runs its jobs and partitions.
RUNNERS = {
    "stream_exports.runners.WorkerRunner": "export_worker",
    "stream_exports.runners.DjangoTaskRunner": "db_worker",
    "stream_exports.runners.CeleryRunner": "celery",
}
FINISHED = ("succeeded", "failed", "cancelled")
STALE_AFTER = 3.0


@dataclass
class Setup:
    server: Server
    workers: list[psutil.Process]

    def start(self, world: dict[str, Any], params: dict[str, Any]) -> dict[str, str]:
        job = servers.start_job(self.server.url, world, params)
        return {"id": job["id"], **{k: self.server.url + v for k, v in job["links"].items()}}

    def ended(self, links: dict[str, str], timeout: float = 120) -> dict[str, Any]:
        return servers.wait_for_status(links["self"], lambda s: s["status"] in FINISHED, timeout)


@pytest.fixture(scope="module", params=list(RUNNERS), ids=list(RUNNERS.values()))
def setup(request, world, tmp_path_factory, django_db_blocker) -> Iterator[Setup]:
    """uvicorn for the API and two workers of the runner's kind, each having run a job."""
    tmp = tmp_path_factory.mktemp("partitioned")
    env = servers.server_env(
        world,
        JOB_RUNNER=request.param,
        JOB_HEARTBEAT=0.2,
        JOB_STALE_AFTER=STALE_AFTER,
        JOB_PROGRESS_INTERVAL=0.05,
        JOB_LOG_INTERVAL=0.05,  # (a progress line in the log however fast the job)
        CHUNK_SIZE=500,
        PARTITION_ROWS=0,
    )
    with servers.run_server("uvicorn", env, tmp) as server, ExitStack() as stack:
        kind = RUNNERS[request.param]
        workers = [
            psutil.Process(
                stack.enter_context(servers.run_worker(kind, env, tmp / f"w{n}.log")).pid
            )
            for n in range(2)
        ]
        ready = Setup(server, workers)
        with django_db_blocker.unblock():
            warm(ready, world)
        yield ready


def warm(setup: Setup, world: dict[str, Any]) -> None:
    """Wait until each worker has run a job (its modules imported, its connections open): a
    cold worker may take its first partition only after the coordinator ran them all."""
    cold = set(setup.workers)
    for _ in range(10):
        jobs = [setup.start(world, {"partitions": 1, "limit": 1000}) for _ in setup.workers]
        for job in jobs:
            assert setup.ended(job)["status"] == "succeeded"
        for worker in ExportJob.objects.filter(pk__in=[j["id"] for j in jobs]).values_list(
            "worker", flat=True
        ):
            pid = int(worker.split(":")[1])
            cold -= {w for w in cold if pid in {w.pid, *(c.pid for c in w.children())}}
        if not cold:
            return
    raise AssertionError(f"workers {[w.pid for w in cold]} ran no job")


def download(links: dict[str, str]) -> bytes:
    response = requests.get(links["download"], timeout=120)  # (gzip decoded by requests)
    assert response.status_code == 200, response.text
    return response.content


def worker_of(partition: ExportPartition) -> psutil.Process:
    return psutil.Process(int(partition.worker.split(":")[1]))


def test_a_partitioned_job_writes_the_file_of_the_unpartitioned_one(
    setup, world, django_db_blocker
):
    whole = setup.start(world, {"partitions": 1, "paid": "true"})
    split = setup.start(world, {"partitions": 4, "paid": "true"})
    assert setup.ended(whole)["status"] == "succeeded"
    ended = setup.ended(split)
    assert (ended["status"], ended["partitions"]) == ("succeeded", {"done": 4, "total": 4})
    assert download(split) == download(whole)
    with django_db_blocker.unblock():
        ran_in = set(
            ExportPartition.objects.filter(job_id=split["id"]).values_list("tries", flat=True)
        )
    assert ran_in == {1}
    log = requests.get(split["log"], timeout=30).text
    assert "in 4 partitions" in log and "partitions done" in log


def running_partition(
    job_id: str, django_db_blocker, workers, not_in: int | None = None
) -> ExportPartition:
    """A partition running in one of ``workers`` (their pool's processes too) with rows,
    not in process ``not_in``."""
    pids = {w.pid for w in workers} | {c.pid for w in workers for c in w.children()}
    pids.discard(not_in)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with django_db_blocker.unblock():
            for partition in ExportPartition.objects.filter(
                job_id=job_id, status="running", rows__gt=0
            ):
                if partition.worker and int(partition.worker.split(":")[1]) in pids:
                    return partition
        time.sleep(0.02)
    with django_db_blocker.unblock():
        seen = list(
            ExportPartition.objects.filter(job_id=job_id).values("status", "rows", "worker")
        )
    raise AssertionError(f"no partition ran in {pids}: {seen}")


def test_a_worker_killed_in_a_partition_runs_it_again_and_the_file_is_whole(
    setup, world, django_db_blocker
):
    whole = setup.start(world, {"partitions": 1})
    assert setup.ended(whole)["status"] == "succeeded"
    split = setup.start(world, {"partitions": 2})
    servers.wait_for_status(split["self"], lambda s: s["status"] == "running")
    with django_db_blocker.unblock():
        coordinator = int(ExportJob.objects.get(pk=split["id"]).worker.split(":")[1])
    # (not the coordinator's: killing it fails the job, as the reaper does any job's)
    partition = running_partition(split["id"], django_db_blocker, setup.workers, coordinator)
    worker_of(partition).send_signal(signal.SIGKILL)
    ended = setup.ended(split)
    assert ended["status"] == "succeeded", ended["error"]
    with django_db_blocker.unblock():
        partition.refresh_from_db()
    assert partition.tries == 2
    assert download(split) == download(whole)
    log = requests.get(split["log"], timeout=30).text
    assert f"partition {partition.index} failed (try 1): worker" in log


def test_a_cancelled_partitioned_job_stops_every_partition_and_leaves_nothing(
    setup, world, django_db_blocker
):
    split = setup.start(world, {"partitions": 2})
    running_partition(split["id"], django_db_blocker, setup.workers)
    cancel = sign_url(
        reverse("stream_exports:job-cancel", args=[split["id"]]), world["users"]["staff"]
    )
    assert requests.post(setup.server.url + cancel, timeout=30).status_code == 202
    ended = setup.ended(split, timeout=30)
    assert (ended["status"], ended["error"]) == ("cancelled", "cancelled on request")
    time.sleep(1)  # (a partition that would still write would do it now)
    with django_db_blocker.unblock():
        states = set(
            ExportPartition.objects.filter(job_id=split["id"]).values_list("status", flat=True)
        )
    assert states <= {"cancelled", "succeeded"}
    root = Path(settings.MEDIA_ROOT) / "stream_exports"
    left = (
        [p.name for p in root.iterdir() if p.name.startswith(split["id"])] if root.exists() else []
    )
    assert left == []
