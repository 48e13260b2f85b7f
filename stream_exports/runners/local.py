"""Runners that need nothing beyond Django: a thread of the web process, the caller
itself, or ``manage.py export_worker`` processes taking jobs from the database."""

from __future__ import annotations

import threading

from django.db import connections

from .base import run_and_continue

__all__ = ["ImmediateRunner", "ThreadRunner", "WorkerRunner"]


def _run_and_close(job_id: str) -> None:
    try:
        run_and_continue(job_id)
    finally:
        connections.close_all()


class ThreadRunner:
    """Runs each job in a daemon thread of this process (jobs die with it and are then
    reaped as failed)."""

    def submit(self, job_id: str) -> None:
        threading.Thread(
            target=_run_and_close, args=(job_id,), name=f"job-{job_id}", daemon=True
        ).start()


class ImmediateRunner:
    """Runs the job in the caller, before returning (tests, scripts)."""

    def submit(self, job_id: str) -> None:
        run_and_continue(job_id)


class WorkerRunner:
    """Leaves the job queued for ``manage.py export_worker`` processes (one machine or
    many: the job table is the queue)."""

    def submit(self, job_id: str) -> None:
        return None
