"""ZappaRunner: in the caller outside Lambda; on Lambda, an asynchronous invocation (checked
against Lambda's service model) that Zappa's own handler turns back into the job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import zappa.asynchronous
from botocore.stub import Stubber

from stream_exports.models import ExportJob
from stream_exports.runners.on_zappa import ZappaRunner

from ..job_api import downloaded_ids, start
from ..servers import ROOT, server_env

pytestmark = pytest.mark.usefixtures("committed_jobs")

RUNNER = {"JOB_RUNNER": "stream_exports.runners.ZappaRunner"}
TASK = "stream_exports.runners.on_zappa.run_export_job"
JOB_ID = "5a1c3f0e-0000-4000-8000-000000000001"


def invocation(job_id: str) -> dict:
    """The event Zappa sends to run the task (``zappa.asynchronous``'s message)."""
    return {
        "task_path": TASK,
        "capture_response": False,
        "response_id": None,
        "args": [job_id],
        "kwargs": {},
        "command": "zappa.asynchronous.route_lambda_task",
    }


@pytest.fixture
def lambda_stub(monkeypatch):
    """Zappa's Lambda client, stubbed: each ``invoke`` checked against the service model."""
    client = boto3.client(
        "lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    # (Zappa makes it on import; without a region, as here, it has none.)
    monkeypatch.setattr(zappa.asynchronous, "LAMBDA_CLIENT", client, raising=False)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def expect_invoke(stub: Stubber, function: str, job_id: str) -> None:
    """Expect one asynchronous invocation of ``function`` with the job's event."""
    payload = json.dumps(invocation(job_id))
    params = {"FunctionName": function, "InvocationType": "Event", "Payload": payload}
    stub.add_response("invoke", {"StatusCode": 202}, params)


def test_outside_lambda_zappa_runs_the_job_before_the_request_answers(world, settings, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    settings.STREAM_EXPORTS = RUNNER
    response = start(world, {"limit": 300})
    assert response.status_code == 202, response.content
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.rows) == ("succeeded", 300)
    assert downloaded_ids(job) == list(range(1, 301))


def test_on_lambda_zappa_invokes_its_own_function_asynchronously(monkeypatch, lambda_stub):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stream-exports-web")
    expect_invoke(lambda_stub, "stream-exports-web", JOB_ID)
    ZappaRunner().submit(JOB_ID)


def test_with_job_lambda_function_zappa_invokes_that_function(settings, lambda_stub):
    settings.STREAM_EXPORTS = {**RUNNER, "JOB_LAMBDA_FUNCTION": "stream-exports-jobs"}
    expect_invoke(lambda_stub, "stream-exports-jobs", JOB_ID)
    ZappaRunner().submit(JOB_ID)


def test_starting_a_job_on_lambda_invokes_once_it_is_committed(
    world, settings, monkeypatch, lambda_stub
):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stream-exports-web")
    settings.STREAM_EXPORTS = RUNNER
    lambda_stub.add_response("invoke", {"StatusCode": 202})
    response = start(world, {"limit": 300})
    assert response.status_code == 202, response.content
    lambda_stub.assert_no_pending_responses()
    assert ExportJob.objects.get(pk=response.json()["id"]).status == "queued"  # Lambda runs it


#: What ``zappa package`` writes for a Django project, as far as its handler reads it.
ZAPPA_SETTINGS = """
API_STAGE = "test"
PROJECT_NAME = "stream-exports"
DJANGO_SETTINGS = "tests.settings"
LOG_LEVEL = "INFO"
DEBUG = False
ENVIRONMENT_VARIABLES = {}
EXCEPTION_HANDLER = None
"""


def test_zappas_handler_runs_the_job_an_invocation_carries(world, settings, tmp_path: Path):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    job_id = start(world, {"limit": 300}).json()["id"]
    (tmp_path / "zappa_settings.py").write_text(ZAPPA_SETTINGS)
    env = {
        **server_env(world, **RUNNER),
        "PYTHONPATH": f"{tmp_path}:{ROOT}",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    code = (
        "import json, sys; from zappa.handler import lambda_handler; "
        "lambda_handler(json.loads(sys.argv[1]), None)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(invocation(job_id))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    job = ExportJob.objects.get(pk=job_id)
    assert (job.status, job.rows) == ("succeeded", 300)
    assert downloaded_ids(job) == list(range(1, 301))
