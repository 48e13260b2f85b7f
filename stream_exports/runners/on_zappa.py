"""``ZappaRunner``: each job one of Zappa's asynchronous tasks (``zappa.asynchronous``;
``pip install "stream_exports[zappa]"``).

On Lambda, Zappa invokes the function asynchronously (``InvocationType="Event"``) with
the task's path and the job's id; Zappa's handler there runs the job. Outside Lambda
(no ``AWS_LAMBDA_FUNCTION_NAME``) Zappa runs the task in the caller, before ``submit``
returns.
"""

from __future__ import annotations

from zappa.asynchronous import run, task

from ..conf import conf
from .base import run_in_worker

__all__ = ["ZappaRunner", "run_export_job"]


@task
def run_export_job(job_id: str) -> None:
    """Run the job in this invocation."""
    run_in_worker(job_id)


class ZappaRunner:
    """Invokes ``JOB_LAMBDA_FUNCTION`` when set (a jobs function with a longer timeout),
    else the function Zappa runs in, with :func:`run_export_job`."""

    def submit(self, job_id: str) -> None:
        if conf.JOB_LAMBDA_FUNCTION:
            run(run_export_job, [job_id], remote_aws_lambda_function_name=conf.JOB_LAMBDA_FUNCTION)
        else:
            run_export_job(job_id)
