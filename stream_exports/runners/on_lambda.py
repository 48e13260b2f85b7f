"""``LambdaRunner``: each job an asynchronous invocation of the jobs function, and the
event that carries it (signed with the project's ``SECRET_KEY``, so no one else can start
a job through the function's ``/events`` path: :mod:`stream_exports.aws.events`)."""

from __future__ import annotations

import json
from typing import Any

from django.core import signing

from ..conf import conf

__all__ = ["LambdaRunner", "NotAJobEvent", "invocation_payload", "job_id_from_event"]

SALT = "stream_exports.lambda_event"
KEY = "stream_exports_job"


class NotAJobEvent(ValueError):
    """The body is not a (valid) stream_exports job invocation."""


def invocation_payload(job_id: str) -> bytes:
    """The event that asks the jobs function to run ``job_id``."""
    return json.dumps({KEY: signing.dumps(str(job_id), salt=SALT)}).encode()


def job_id_from_event(body: bytes) -> str:
    """The job id a signed invocation payload carries; :class:`NotAJobEvent` otherwise."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise NotAJobEvent(f"the body is not JSON that can be read ({exc})") from exc
    if not isinstance(event, dict) or KEY not in event:
        raise NotAJobEvent(f"the event has no {KEY!r} key (not a stream_exports job)")
    try:
        return str(signing.loads(event[KEY], salt=SALT))
    except (signing.BadSignature, TypeError) as exc:
        raise NotAJobEvent(f"{KEY!r} is not signed by this project") from exc


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
