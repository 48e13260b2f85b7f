"""Deploy: the template passes cfn-lint, its SAM transform streams every route, and
``deploy/run.sh`` serves a streaming export exactly as Lambda Web Adapter starts it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from deploy.__main__ import main as deploy_main
from deploy.streaming import enable_streaming
from stream_exports.http.access import sign_url

from .conftest import server_env
from .servers import ROOT, Reply, as_the_adapter_starts_it, scripted_server, streamed_lines

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


def sam_transform() -> dict:
    """The template as CloudFormation sees it after the SAM transform (run locally)."""
    from samtranslator.translator.transform import transform

    class Policies:
        def load(self):
            return {}

    template = yaml.load(TEMPLATE.read_text(), Loader=cfn_loader())
    parameters = {
        "CodeBucket": "bucket",
        "CodeKey": "lambda.zip",
        "DatabaseUrlSecret": "db",
        "SecretKeySecret": "key",
    }
    return transform(template, parameters, Policies())["Resources"]


def of_type(resources: dict, kind: str) -> dict:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def test_sam_transform_streams_every_method(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the translator wants one
    resources = sam_transform()
    methods = of_type(resources, "AWS::ApiGateway::Method").values()
    assert len(methods) == 2  # the root and {proxy+}
    for method in methods:
        integration = method["Properties"]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["ResponseTransferMode"] == "STREAM"
        assert integration["TimeoutInMillis"] == 900000
        assert STREAMING_URI in integration["Uri"]["Fn::Sub"]
    (api,) = of_type(resources, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    (permission,) = of_type(resources, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Action"] == "lambda:InvokeFunction"
    assert permission["Properties"]["FunctionName"] == {"Fn::GetAtt": ["AppFunction", "Arn"]}


def test_the_app_streams_and_jobs_run_in_a_buffered_function(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    resources = sam_transform()
    functions = of_type(resources, "AWS::Lambda::Function")
    assert set(functions) == {"AppFunction", "JobsFunction"}
    env = {name: f["Properties"]["Environment"]["Variables"] for name, f in functions.items()}
    assert env["AppFunction"]["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["JobsFunction"]["AWS_LWA_INVOKE_MODE"] == "buffered"
    runner = env["AppFunction"]["STREAM_EXPORTS"]["Fn::Sub"]
    assert '"JOB_RUNNER": "stream_exports.aws.runner.LambdaRunner"' in runner
    assert '"JOB_LAMBDA_FUNCTION": "${JobsFunction}"' in runner
    for name, function in functions.items():
        props = function["Properties"]
        assert env[name]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
        assert env[name]["AWS_LWA_PASS_THROUGH_PATH"] == "/events"
        assert env[name]["EXPORTS_BUCKET"] == {"Ref": "ExportsBucket"}
        assert props["Handler"] == "deploy/run.sh"
        assert props["Timeout"] == {"Ref": "TimeoutSeconds"}
        assert props["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
        assert "753240598075" in json.dumps(props["Layers"])
    # Only the app may invoke the jobs function; it reads what the jobs function writes.
    policies = json.dumps(of_type(resources, "AWS::IAM::Role")["AppFunctionRole"])
    assert "lambda:InvokeFunction" in policies and "JobsFunction" in policies
    (config,) = of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["MaximumRetryAttempts"] == 0


def test_no_account_id_in_deploy():
    for path in (ROOT / "deploy").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".sh", ".yaml", ".md"):
            assert set(re.findall(r"\b\d{12}\b", path.read_text())) <= {"753240598075"}, path
    # The only 12-digit number is the Lambda Web Adapter layer's publisher, AWS's own.
    assert set(re.findall(r"\b\d{12}\b", TEMPLATE.read_text())) == {"753240598075"}


@pytest.mark.servers
def test_run_sh_serves_a_streaming_export_as_the_adapter_starts_it(world, tmp_path, capsys):
    # Lambda's python has the packaged dependencies; here, the test's interpreter.
    env = {**server_env(world), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with as_the_adapter_starts_it(ROOT, env, tmp_path / "run.log") as base:
        path = sign_url("/exports/orders.ndjson", world["users"]["staff"], {})
        lines, arrivals = streamed_lines(base + path)
        assert deploy_main(["verify", base + path]) == 0
    assert json.loads(lines[-1])["_stream"]["status"] == "complete"
    assert arrivals[0] < arrivals[-1] / 5
    assert "OK: streamed" in capsys.readouterr().out


FN = "arn:aws:lambda:eu-west-1:000000000000:function:app"  # (a stub's, not an account's)
OLD_URI = f"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{FN}/invocations"
NEW_URI = (
    f"arn:aws:apigateway:eu-west-1:lambda:path/2021-11-15/functions/{FN}"
    "/response-streaming-invocations"
)


DEPLOYMENT_DESCRIPTION = "stream_exports: STREAM integrations"


def aws_client(service: str) -> Any:
    """A boto3 client with the real service model and fake credentials (for Stubber)."""
    return boto3.client(
        service, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def expect_enable_streaming(stub: Stubber, api: str, uri: str) -> None:
    """The calls enable_streaming makes on an API with two Lambda routes and a mock."""
    resources = [
        {"id": "root", "path": "/", "resourceMethods": {"ANY": {}}},
        {"id": "prx", "path": "/{proxy+}", "resourceMethods": {"ANY": {}}},
        {"id": "mock", "path": "/mock", "resourceMethods": {"GET": {}}},
    ]
    stub.add_response("get_resources", {"items": resources}, {"restApiId": api})
    for resource in ("root", "prx"):
        where = {"restApiId": api, "resourceId": resource, "httpMethod": "ANY"}
        stub.add_response("get_integration", {"type": "AWS_PROXY", "uri": uri}, where)
        patch = [
            {"op": "replace", "path": "/uri", "value": NEW_URI},
            {"op": "replace", "path": "/responseTransferMode", "value": "STREAM"},
            {"op": "replace", "path": "/timeoutInMillis", "value": "900000"},
        ]
        stub.add_response("update_integration", {}, {**where, "patchOperations": patch})
    where = {"restApiId": api, "resourceId": "mock", "httpMethod": "GET"}
    stub.add_response("get_integration", {"type": "MOCK"}, where)
    stub.add_response(
        "create_deployment",
        {"id": "dep1"},
        {
            "restApiId": api,
            "stageName": "prod",
            "description": "stream_exports: STREAM integrations",
        },
    )


def test_enable_streaming_updates_every_lambda_route_then_deploys():
    client = aws_client("apigateway")
    with Stubber(client) as stub:
        expect_enable_streaming(stub, "api1", OLD_URI)
        changed = enable_streaming(client, "api1", "prod")
        stub.assert_no_pending_responses()
    assert changed == ["ANY /", "ANY /{proxy+}"]


def stack(status: str, outputs: list | None = None) -> dict:
    found = {"StackName": "se", "CreationTime": datetime(2026, 1, 1), "StackStatus": status}
    return {"Stacks": [{**found, "Outputs": outputs or []}]}


def test_up_uploads_creates_the_stack_then_deploys_the_api_again(tmp_path):
    from deploy.stack import deploy

    package = tmp_path / "lambda-0123456789abcdef.zip"
    package.write_bytes(b"PK zip")
    clients = {name: aws_client(name) for name in ("s3", "cloudformation", "apigateway")}
    stubs = {name: Stubber(client) for name, client in clients.items()}
    key = "stream_exports/lambda-0123456789abcdef.zip"
    stubs["s3"].add_response("put_object", {}, {"Bucket": "code", "Key": key, "Body": ANY})
    cfn = stubs["cloudformation"]
    cfn.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id se does not exist", 400
    )
    parameters = {
        "CodeBucket": "code",
        "CodeKey": key,
        "DatabaseUrlSecret": "db",
        "SecretKeySecret": "key",
    }
    cfn.add_response(
        "create_change_set",
        {"Id": "cs1", "StackId": "se"},
        {
            "StackName": "se",
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "TemplateBody": TEMPLATE.read_text(),
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        },
    )
    cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE"})
    cfn.add_response("execute_change_set", {}, {"StackName": "se", "ChangeSetName": ANY})
    cfn.add_response("describe_stacks", stack("CREATE_COMPLETE"), {"StackName": "se"})
    outputs = [
        {"OutputKey": "ApiId", "OutputValue": "api1"},
        {"OutputKey": "StageName", "OutputValue": "prod"},
        {"OutputKey": "ApiUrl", "OutputValue": "https://api1.example/prod/"},
    ]
    cfn.add_response("describe_stacks", stack("CREATE_COMPLETE", outputs), {"StackName": "se"})
    # The routes already stream (the template says so); the API is deployed again anyway.
    expect_enable_streaming(stubs["apigateway"], "api1", NEW_URI)
    for stub in stubs.values():
        stub.activate()
    found = deploy(
        clients, package, "se", "code", {"DatabaseUrlSecret": "db", "SecretKeySecret": "key"}
    )
    for stub in stubs.values():
        stub.assert_no_pending_responses()
    assert found["ApiUrl"] == "https://api1.example/prod/"


def test_an_unchanged_stack_is_not_executed_but_the_api_is_still_redeployed(tmp_path):
    from deploy.stack import apply_change_set

    client = aws_client("cloudformation")
    with Stubber(client) as cfn:
        cfn.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": "se"})
        cfn.add_response("create_change_set", {"Id": "cs1"})
        unchanged = {
            "Status": "FAILED",
            "StatusReason": "The submitted information didn't contain changes.",
        }
        cfn.add_response("describe_change_set", unchanged)  # the waiter's poll
        cfn.add_response("describe_change_set", unchanged)  # the reason, read again
        cfn.add_response("delete_change_set", {}, {"StackName": "se", "ChangeSetName": ANY})
        assert apply_change_set(client, "se", {}) is False
        cfn.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"id": 1}\n{"_stream": {"status": "complete", "rows": 1}}\n', "one burst"),
        (b'{"id": 1}\n{"id": 2}\n', "no trailer"),
        (b'{"id": 1}\n{"_stream": {"status": "error", "error": "db gone"}}\n', "'error'"),
    ],
)
def test_verify_fails_a_buffered_or_cut_body(body, says, capsys):
    # Like a buffered API Gateway route: the whole body at once, at the end.
    with scripted_server(Reply(200, body, delay=0.5)) as (base, _):
        assert deploy_main(["verify", f"{base}/exports/orders.ndjson"]) == 1
    assert says in capsys.readouterr().err
