"""``DjangoTaskRunner``: each job a task of Django's task framework.

``django.tasks`` on Django 6, the ``django-tasks`` backport on 5.2 (``pip install
"stream_exports[tasks]"``, which also brings ``django-tasks-db``, the database backend
whose ``manage.py db_worker`` runs the tasks). The task is
``stream_exports.runners.on_django_tasks.run_export_job`` (the path backends store; the
earlier ``stream_exports.tasks.django.run_export_job`` still finds it); it goes to the
backend ``JOB_TASK_BACKEND`` names, on ``JOB_TASK_QUEUE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import django

from ..conf import conf
from .base import run_in_worker

# The backport's API is Django's (and is what type checkers read: it ships its types).
if TYPE_CHECKING or django.VERSION < (6, 0):
    from django_tasks import task
else:
    from django.tasks import task

__all__ = ["DjangoTaskRunner", "run_export_job"]


@task(backend=conf.JOB_TASK_BACKEND, queue_name=conf.JOB_TASK_QUEUE)
def run_export_job(job_id: str) -> None:
    """Run the job in the backend's worker."""
    run_in_worker(job_id)


class DjangoTaskRunner:
    """Enqueues :func:`run_export_job` on ``JOB_TASK_BACKEND``'s ``JOB_TASK_QUEUE``."""

    def submit(self, job_id: str) -> None:
        queued = run_export_job.using(backend=conf.JOB_TASK_BACKEND, queue_name=conf.JOB_TASK_QUEUE)
        queued.enqueue(job_id)
