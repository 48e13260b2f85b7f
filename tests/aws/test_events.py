"""``/events`` runs the jobs Lambda Web Adapter passes on; refuses what came via API Gateway."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from stream_exports.core.datasets import registry
from stream_exports.jobs.lifecycle import create_job
from stream_exports.models import ExportJob
from stream_exports.runners.on_lambda import invocation_payload

pytestmark = pytest.mark.usefixtures("committed_jobs")

#: ``x-amzn-request-context`` as Lambda Web Adapter sets it for an API Gateway (REST) event.
API_GATEWAY_CONTEXT = json.dumps(
    {"accountId": "000000000000", "apiId": "abc123", "stage": "prod", "httpMethod": "POST"}
)


def post_event(body: bytes, **headers: str):
    return Client().post("/events", body, content_type="application/json", headers=headers)


@pytest.fixture
def queued_job(world):
    return create_job(registry.get("orders"), {"limit": "25"}, world["users"]["staff"])


def test_events_runs_the_job_a_lambda_invocation_carries(queued_job):
    response = post_event(invocation_payload(queued_job.pk), x_amzn_request_context="null")
    assert response.status_code == 200, response.content
    assert response.json() == {"job": str(queued_job.pk), "status": "succeeded"}
    queued_job.refresh_from_db()
    assert queued_job.rows == 25


def test_a_retried_invocation_does_not_run_the_job_twice(queued_job):
    payload = invocation_payload(queued_job.pk)
    post_event(payload, x_amzn_request_context="null")
    finished = ExportJob.objects.get(pk=queued_job.pk).finished_at
    again = post_event(payload, x_amzn_request_context="null")
    assert again.json()["status"] == "succeeded"
    assert ExportJob.objects.get(pk=queued_job.pk).finished_at == finished


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"x_amzn_request_context": API_GATEWAY_CONTEXT}, "came through API Gateway"),
        ({}, "no x-amzn-request-context header"),
    ],
)
def test_events_refuses_the_same_body_from_api_gateway(queued_job, headers, says):
    response = post_event(invocation_payload(queued_job.pk), **headers)
    assert response.status_code == 403
    assert says in response.json()["error"]
    assert ExportJob.objects.get(pk=queued_job.pk).status == "queued"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b'{"Records": [{"eventSource": "aws:sqs"}]}', "not a stream_exports job"),
        (b'{"stream_exports_job": "forged:value"}', "not signed by this project"),
        (b"[1, 2]", "not a stream_exports job"),
        (b"[" * 100_000, "not JSON"),  # (issue 25: json raised RecursionError, a 500)
        (b'{"stream_exports_job": [1]}', "not signed by this project"),
        (b'{"stream_exports_job": {"a": 1}}', "not signed by this project"),
    ],
)
def test_events_refuses_what_is_not_a_signed_job_event(queued_job, body, says):
    response = post_event(body, x_amzn_request_context="null")
    assert response.status_code == 400
    assert says in response.json()["error"]
    assert ExportJob.objects.get(pk=queued_job.pk).status == "queued"


def test_events_answers_get_with_405():
    response = Client().get("/events")
    assert response.status_code == 405
    assert "Lambda posts events here" in response.json()["error"]
