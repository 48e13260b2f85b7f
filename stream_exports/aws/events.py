"""Jobs on AWS Lambda: the asynchronous invocation that carries a job, and the view
Lambda Web Adapter posts it to (its pass-through path, ``/events``).

``LambdaRunner`` (``aws/runner.py``) invokes the jobs function with
``InvocationType="Event"`` and :func:`invocation_payload` as the event. Lambda Web
Adapter turns any event that is not an HTTP request into ``POST /events`` with the
header ``x-amzn-request-context: null``; requests that came through API Gateway carry
their request context there instead, and are refused. The payload is signed with the
project's ``SECRET_KEY``, so no one else can start a job through this path either.
"""

from __future__ import annotations

import json

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ..http.responses import json_error, json_response
from ..jobs.runners import get_runner
from ..jobs.worker import run_job
from ..models import ExportJob

__all__ = [
    "NotAJobEvent",
    "invocation_deadline",
    "invocation_payload",
    "job_id_from_event",
    "lambda_event",
]

SALT = "stream_exports.lambda_event"
KEY = "stream_exports_job"
#: What Lambda Web Adapter sends in ``x-amzn-request-context`` for a non-HTTP event.
PASS_THROUGH_CONTEXT = "null"


class NotAJobEvent(ValueError):
    """The body is not a (valid) stream_exports job invocation."""


def invocation_payload(job_id: str) -> bytes:
    """The event that asks the jobs function to run ``job_id``."""
    return json.dumps({KEY: signing.dumps(str(job_id), salt=SALT)}).encode()


def job_id_from_event(body: bytes) -> str:
    """The job id a signed invocation payload carries; :class:`NotAJobEvent` otherwise."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise NotAJobEvent(f"the body is not JSON ({exc})") from exc
    if not isinstance(event, dict) or KEY not in event:
        raise NotAJobEvent(f"the event has no {KEY!r} key (not a stream_exports job)")
    try:
        return str(signing.loads(event[KEY], salt=SALT))
    except (signing.BadSignature, TypeError) as exc:
        raise NotAJobEvent(f"{KEY!r} is not signed by this project") from exc


def through_api_gateway(request: HttpRequest) -> str | None:
    """Why the request is not Lambda's own invocation, or None when it is."""
    context = request.headers.get("x-amzn-request-context")
    if context is None:
        return "no x-amzn-request-context header: only Lambda Web Adapter posts here"
    if context.strip() != PASS_THROUGH_CONTEXT:
        return "the request came through API Gateway; jobs start with POST .../jobs"
    return None


@csrf_exempt
def lambda_event(request: HttpRequest) -> HttpResponse:
    """``POST /events``: run the job an asynchronous invocation carries, to its end."""
    if request.method != "POST":
        return json_error(405, f"{request.method} is not allowed; Lambda posts events here.")
    if reason := through_api_gateway(request):
        return json_error(403, f"refused: {reason}.")
    try:
        job_id = job_id_from_event(request.body)
    except NotAJobEvent as exc:
        return json_error(400, f"not a job event: {exc}.")
    # A job no longer queued (a retried invocation) is left alone; one that reached the
    # invocation's deadline checkpointed: the next invocation continues it.
    if run_job(job_id, deadline=invocation_deadline(request)):
        get_runner().submit(job_id)
    status = ExportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    return json_response({"job": job_id, "status": status})


def invocation_deadline(request: HttpRequest) -> float | None:
    """When this invocation ends (epoch seconds), from the Lambda context Lambda Web
    Adapter passes in ``x-amzn-lambda-context`` (its ``deadline``, in ms); None outside."""
    try:
        context = json.loads(request.headers.get("x-amzn-lambda-context") or "{}")
        deadline = context.get("deadline") or context.get("deadline_ms")
        return float(deadline) / 1000 if deadline else None
    except (ValueError, TypeError, AttributeError):
        return None
