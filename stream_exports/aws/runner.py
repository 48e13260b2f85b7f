"""``LambdaRunner``: each job an asynchronous invocation of the jobs function."""

from __future__ import annotations

from typing import Any

from ..conf import conf
from .events import invocation_payload

__all__ = ["LambdaRunner"]


class LambdaRunner:
    """Invokes ``JOB_LAMBDA_FUNCTION`` asynchronously (``InvocationType="Event"``) per job.

    Lambda queues the event, so ``submit`` returns in milliseconds; the job then has
    the function's whole timeout (up to 15 minutes), not what is left of a request's.
    """

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        """boto3's Lambda client, made on first use (boto3 is imported only here)."""
        if self._client is None:
            import boto3  # the deploy extra; a project that never uses Lambda needs none

            self._client = boto3.client("lambda")
        return self._client

    def submit(self, job_id: str) -> None:
        self.client.invoke(
            FunctionName=conf.JOB_LAMBDA_FUNCTION,
            InvocationType="Event",
            Payload=invocation_payload(job_id),
        )
