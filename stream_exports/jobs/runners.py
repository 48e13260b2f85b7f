"""Job runners: one small interface (``submit(job_id)``), several ways to run.

Choose with ``STREAM_EXPORTS["JOB_RUNNER"]``:

- ``ThreadRunner``: a thread in the web process (the demo; jobs die with it
  and are then reaped as failed).
- ``WorkerRunner``: nothing here; ``manage.py export_worker`` processes take
  queued jobs from the database (one machine or many).
- ``ImmediateRunner``: runs the job before ``submit`` returns (tests, scripts).
- ``stream_exports.aws.runner.LambdaRunner``: on AWS Lambda, an asynchronous
  invocation of the jobs function.
- ``stream_exports.tasks``: a task of Django's task framework, of Celery, or of
  Zappa's asynchronous tasks; their workers call :func:`run_in_worker`.

Any class with ``submit(job_id)`` will do.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from django.db import connections, transaction
from django.utils.module_loading import import_string

from ..conf import conf
from .lifecycle import reap_stale_jobs
from .worker import run_job

__all__ = [
    "ImmediateRunner",
    "Runner",
    "ThreadRunner",
    "WorkerRunner",
    "get_runner",
    "run_and_continue",
    "run_in_worker",
    "submit_on_commit",
]


class Runner(Protocol):
    def submit(self, job_id: str) -> None:
        """Start (or queue) the job; return at once unless the runner says otherwise."""


def run_and_continue(job_id: str) -> None:
    """Run the job; if it stopped at a checkpoint (a slice), submit it again."""
    if run_job(job_id):
        get_runner().submit(job_id)


def run_in_worker(job_id: str) -> None:
    """A task system's worker runs a job: first fail the jobs of workers that died (as
    ``export_worker`` does between jobs), then run this one, submitting its next slice."""
    reap_stale_jobs()
    run_and_continue(job_id)


def _run_and_close(job_id: str) -> None:
    try:
        run_and_continue(job_id)
    finally:
        connections.close_all()


class ThreadRunner:
    """Runs each job in a daemon thread of this process."""

    def submit(self, job_id: str) -> None:
        threading.Thread(
            target=_run_and_close, args=(job_id,), name=f"job-{job_id}", daemon=True
        ).start()


class ImmediateRunner:
    """Runs the job in the caller, before returning."""

    def submit(self, job_id: str) -> None:
        run_and_continue(job_id)


class WorkerRunner:
    """Leaves the job queued for ``manage.py export_worker``."""

    def submit(self, job_id: str) -> None:
        return None


def get_runner() -> Runner:
    """The configured runner."""
    runner: Runner = import_string(conf.JOB_RUNNER)()
    return runner


def submit_on_commit(job_id: Any) -> None:
    """Submit once the job's row is committed, so the runner can see it."""
    runner = get_runner()
    transaction.on_commit(lambda: runner.submit(str(job_id)))
