"""LambdaRunner invokes the jobs function asynchronously (against Lambda's service model)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from django.test import Client

from stream_exports.models import ExportJob
from stream_exports.runners.on_lambda import LambdaRunner, invocation_payload

pytestmark = pytest.mark.usefixtures("committed_jobs")

FUNCTION = "stream-exports-jobs"


def lambda_client():
    return boto3.client(
        "lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_lambda_runner_invokes_the_jobs_function_asynchronously(world, settings):
    settings.STREAM_EXPORTS = {
        "JOB_RUNNER": "stream_exports.runners.LambdaRunner",
        "JOB_LAMBDA_FUNCTION": FUNCTION,
    }
    client = lambda_client()
    job_id = "5a1c3f0e-0000-4000-8000-000000000001"
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": FUNCTION,
                "InvocationType": "Event",
                "Payload": invocation_payload(job_id),
            },
        )
        LambdaRunner(client).submit(job_id)
        stub.assert_no_pending_responses()


def test_starting_a_job_on_lambda_invokes_once_the_job_is_committed(world, settings, monkeypatch):
    settings.STREAM_EXPORTS = {
        "JOB_RUNNER": "stream_exports.runners.LambdaRunner",
        "JOB_LAMBDA_FUNCTION": FUNCTION,
    }
    client = lambda_client()
    monkeypatch.setattr(boto3, "client", lambda service, **kw: client)
    stub = Stubber(client)
    stub.add_response("invoke", {"StatusCode": 202})
    with stub:
        web = Client()
        web.force_login(world["users"]["staff"])
        response = web.post("/exports/orders/jobs?limit=5", headers={"accept": "application/json"})
        assert response.status_code == 202, response.content
        stub.assert_no_pending_responses()
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert job.status == "queued"  # the jobs function runs it, through /events
