"""Job runners: one interface (``submit(job_id)``) and every way this package runs jobs.

Choose one with ``STREAM_EXPORTS["JOB_RUNNER"]``, a dotted path from here:

- ``stream_exports.runners.ThreadRunner``: a thread in the web process (the default).
- ``stream_exports.runners.WorkerRunner``: ``manage.py export_worker`` processes take
  queued jobs from the database.
- ``stream_exports.runners.ImmediateRunner``: the job runs before ``submit`` returns.
- ``stream_exports.runners.DjangoTaskRunner``: a task of Django's task framework.
- ``stream_exports.runners.CeleryRunner``: a Celery task.
- ``stream_exports.runners.LambdaRunner``: an asynchronous invocation of a Lambda function.
- ``stream_exports.runners.ZappaRunner``: one of Zappa's asynchronous tasks.

``base`` holds the interface and what each runner's worker calls
(:func:`~stream_exports.runners.base.run_in_worker`); ``local`` the runners that need
nothing else; ``on_<system>`` one module per task system, imported only when named, so
this package's import costs nothing (a runner's system is an optional extra).
"""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

__all__ = [
    "CeleryRunner",
    "DjangoTaskRunner",
    "ImmediateRunner",
    "LambdaRunner",
    "Runner",
    "ThreadRunner",
    "WorkerRunner",
    "ZappaRunner",
    "get_runner",
    "run_in_worker",
    "submit_on_commit",
]

#: Where each public name lives; imported on first use.
_HOMES = {
    "Runner": "base",
    "get_runner": "base",
    "run_in_worker": "base",
    "submit_on_commit": "base",
    "ImmediateRunner": "local",
    "ThreadRunner": "local",
    "WorkerRunner": "local",
    "CeleryRunner": "on_celery",
    "DjangoTaskRunner": "on_django_tasks",
    "LambdaRunner": "on_lambda",
    "ZappaRunner": "on_zappa",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return import_string(f"{__name__}.{home}.{name}")
