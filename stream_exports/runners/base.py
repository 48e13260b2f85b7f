"""The runner interface, the one setting that picks the runner, and what every runner's
worker does with a job."""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

from django.core.signals import setting_changed
from django.db import transaction
from django.utils.module_loading import import_string

from ..conf import conf
from ..jobs.lifecycle import reap_stale_jobs
from ..jobs.partitions import run_task

__all__ = ["Runner", "get_runner", "run_and_continue", "run_in_worker", "submit_on_commit"]


class Runner(Protocol):
    """Starts jobs somewhere: any class with this method will do (``JOB_RUNNER``)."""

    def submit(self, job_id: str) -> None:
        """Start (or queue) the job; return at once unless the runner says otherwise."""


@cache
def _runner(path: str) -> Runner:
    runner: Runner = import_string(path)()
    return runner


def get_runner() -> Runner:
    """The runner ``JOB_RUNNER`` names (made once, and again when the setting changes)."""
    return _runner(conf.JOB_RUNNER)


def _reset(setting: str, **kwargs: Any) -> None:
    if setting == "STREAM_EXPORTS":
        _runner.cache_clear()


setting_changed.connect(_reset)


def submit_on_commit(job_id: Any) -> None:
    """Submit once the job's row is committed, so the runner can see it."""
    runner = get_runner()
    transaction.on_commit(lambda: runner.submit(str(job_id)))


def run_and_continue(job_id: str) -> None:
    """Run the job, or the partition of one (``<job id>/<index>``: a partitioned job's
    coordinator submits its partitions to the same runner); if the job stopped at a
    checkpoint (a slice), submit it again."""
    runner = get_runner()
    if run_task(job_id, submit=runner.submit):
        runner.submit(job_id)


def run_in_worker(job_id: str) -> None:
    """What a task system's worker runs: first fail the jobs of workers that died (as
    ``export_worker`` does between jobs), then run this one, submitting its next slice."""
    reap_stale_jobs()
    run_and_continue(job_id)
