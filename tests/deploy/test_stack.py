"""Deploying the stack: every Lambda route switched to STREAM, then the API deployed again."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from unittest.mock import ANY

import boto3
import pytest
from botocore.stub import Stubber

from deploy.streaming import enable_streaming

from ..servers import ROOT

pytestmark = pytest.mark.once  # (neither the database nor Django's version changes it)

TEMPLATE = ROOT / "deploy" / "template.yaml"

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
