"""The view Lambda Web Adapter posts a job's asynchronous invocation to (its pass-through
path, ``/events``).

``LambdaRunner`` (:mod:`stream_exports.runners.on_lambda`) invokes the jobs function with
``InvocationType="Event"`` and a signed payload as the event. Lambda Web
Adapter turns any event that is not an HTTP request into ``POST /events`` with the
header ``x-amzn-request-context: null``; requests that came through API Gateway carry
their request context there instead, and are refused. The payload is signed with the
project's ``SECRET_KEY``, so no one else can start a job through this path either.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ..http.answers import json_error, json_response
from ..jobs.models import ExportJob
from ..jobs.partitions import run_task
from ..runners.base import get_runner
from ..runners.on_lambda import NotAJobEvent, job_id_from_event

__all__ = ["invocation_deadline", "lambda_event"]

#: What Lambda Web Adapter sends in ``x-amzn-request-context`` for a non-HTTP event.
PASS_THROUGH_CONTEXT = "null"


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
    runner = get_runner()
    if run_task(job_id, deadline=invocation_deadline(request), submit=runner.submit):
        runner.submit(job_id)
    job_id = job_id.partition("/")[0]  # (a partition's task: <job id>/<index>)
    status = ExportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    return json_response({"job": job_id, "status": status})


def invocation_deadline(request: HttpRequest) -> float | None:
    """When this invocation ends (epoch seconds), from the Lambda context Lambda Web
    Adapter passes in ``x-amzn-lambda-context`` (its ``deadline``, in ms); None outside."""
    try:
        context = json.loads(request.headers.get("x-amzn-lambda-context") or "{}")
        deadline = context.get("deadline") or context.get("deadline_ms")
        return float(deadline) / 1000 if deadline else None
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None
