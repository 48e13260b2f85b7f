"""Deploy: the template passes cfn-lint, its SAM transform streams every route, and
``deploy/run.sh`` serves a streaming export exactly as Lambda Web Adapter starts it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from stream_exports.access import sign_url

from .conftest import server_env
from .servers import ROOT, free_port, run_process

TEMPLATE = ROOT / "deploy" / "template.yaml"
STREAMING_URI = "/2021-11-15/functions/${AppFunction.Arn}/response-streaming-invocations"


def cfn_loader() -> type:
    """A YAML loader that keeps CloudFormation's short tags (!Sub, !Ref, ...) as data."""

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader, suffix, node):
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            return {name: value.split(".") if suffix == "GetAtt" else value}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_mapping(node, deep=True)}

    Loader.add_multi_constructor("!", tag)
    return Loader


def test_template_passes_cfn_lint():
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_sam_transform_streams_every_method(monkeypatch):
    from samtranslator.translator.transform import transform

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the translator wants one

    class Policies:
        def load(self):
            return {}

    template = yaml.load(TEMPLATE.read_text(), Loader=cfn_loader())
    # As after packaging: the code is in S3.
    template["Resources"]["AppFunction"]["Properties"]["CodeUri"] = "s3://bucket/lambda.zip"
    parameters = {"DatabaseUrlSecret": "db", "SecretKeySecret": "key"}
    output = transform(template, parameters, Policies())
    resources = output["Resources"]
    methods = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method"]
    assert len(methods) == 2  # the root and {proxy+}
    for method in methods:
        integration = method["Properties"]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["ResponseTransferMode"] == "STREAM"
        assert integration["TimeoutInMillis"] == 900000
        assert STREAMING_URI in integration["Uri"]["Fn::Sub"]
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert api["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    (function,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert function["Properties"]["Timeout"] == {"Ref": "TimeoutSeconds"}
    (permission,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert permission["Properties"]["Action"] == "lambda:InvokeFunction"
    assert "753240598075" in json.dumps(function["Properties"]["Layers"])


def test_no_account_id_in_deploy():
    for path in (ROOT / "deploy").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".sh", ".yaml", ".md"):
            assert set(re.findall(r"\b\d{12}\b", path.read_text())) <= {"753240598075"}, path
    # The only 12-digit number is the Lambda Web Adapter layer's publisher, AWS's own.
    assert set(re.findall(r"\b\d{12}\b", TEMPLATE.read_text())) == {"753240598075"}


@pytest.mark.servers
def test_run_sh_serves_a_streaming_export_as_the_adapter_starts_it(world, tmp_path):
    port = free_port()
    env = {
        **server_env(world),
        "AWS_LWA_PORT": str(port),
        "LAMBDA_TASK_ROOT": str(ROOT),
        # Lambda's python has the packaged dependencies; here, the test's interpreter.
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    with run_process(["sh", str(ROOT / "deploy" / "run.sh")], env, tmp_path / "run.log"):
        deadline = time.monotonic() + 30
        while True:  # the adapter's readiness check
            try:
                if requests.get(f"http://127.0.0.1:{port}/exports/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}" + sign_url(
            "/exports/orders.ndjson", world["users"]["staff"], {}
        )
        started, arrivals = time.perf_counter(), []
        with requests.get(url, stream=True, timeout=60) as response:
            assert "Content-Length" not in response.headers
            lines = []
            for line in response.iter_lines(chunk_size=65536):
                lines.append(line)
                arrivals.append(time.perf_counter() - started)
    assert json.loads(lines[-1])["_stream"]["status"] == "complete"
    assert arrivals[0] < arrivals[-1] / 5


def test_enable_streaming_updates_every_lambda_route_then_deploys():
    import boto3
    from botocore.stub import Stubber

    from deploy.streaming import enable_streaming

    client = boto3.client(
        "apigateway", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    fn = "arn:aws:lambda:eu-west-1:000000000000:function:app"  # (a stub's, not an account's)
    old = f"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{fn}/invocations"
    new = (
        f"arn:aws:apigateway:eu-west-1:lambda:path/2021-11-15/functions/{fn}"
        "/response-streaming-invocations"
    )
    stub = Stubber(client)
    stub.add_response(
        "get_resources",
        {
            "items": [
                {"id": "root", "path": "/", "resourceMethods": {"ANY": {}}},
                {"id": "prx", "path": "/{proxy+}", "resourceMethods": {"ANY": {}}},
                {"id": "mock", "path": "/mock", "resourceMethods": {"GET": {}}},
            ]
        },
        {"restApiId": "api1"},
    )
    for resource in ("root", "prx"):
        stub.add_response(
            "get_integration",
            {"type": "AWS_PROXY", "uri": old},
            {"restApiId": "api1", "resourceId": resource, "httpMethod": "ANY"},
        )
        stub.add_response(
            "update_integration",
            {},
            {
                "restApiId": "api1",
                "resourceId": resource,
                "httpMethod": "ANY",
                "patchOperations": [
                    {"op": "replace", "path": "/uri", "value": new},
                    {"op": "replace", "path": "/responseTransferMode", "value": "STREAM"},
                    {"op": "replace", "path": "/timeoutInMillis", "value": "900000"},
                ],
            },
        )
    stub.add_response(
        "get_integration",
        {"type": "MOCK"},
        {"restApiId": "api1", "resourceId": "mock", "httpMethod": "GET"},
    )
    stub.add_response(
        "create_deployment",
        {"id": "dep1"},
        {
            "restApiId": "api1",
            "stageName": "prod",
            "description": "stream_exports: STREAM integrations",
        },
    )
    with stub:
        changed = enable_streaming(client, "api1", "prod")
    stub.assert_no_pending_responses()
    assert changed == ["ANY /", "ANY /{proxy+}"]
