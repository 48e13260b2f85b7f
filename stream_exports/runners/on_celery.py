"""``CeleryRunner``: each job a Celery task (``pip install "stream_exports[celery]"``).

The task's name, ``stream_exports.run_job``, does not change: route it with Celery's
``task_routes``. The project's Celery app finds it with ``app.autodiscover_tasks()``, which imports
``stream_exports.tasks``, which imports this module.
"""

from __future__ import annotations

from celery import shared_task

from .base import run_in_worker

__all__ = ["TASK_NAME", "CeleryRunner", "run_export_job"]

#: The name workers know the task by (and ``task_routes`` route it by).
TASK_NAME = "stream_exports.run_job"


@shared_task(name=TASK_NAME, ignore_result=True, acks_late=True)
def run_export_job(job_id: str) -> None:
    """Run the job (or a partition of one) in the Celery worker. Acknowledged once it ends,
    so that a worker busy with a job, its prefetch at one, reserves no other (a partition
    an idle worker would run); a message delivered again finds its job taken."""
    run_in_worker(job_id)


class CeleryRunner:
    """Sends :func:`run_export_job` to the project's Celery broker."""

    def submit(self, job_id: str) -> None:
        run_export_job.delay(job_id)
