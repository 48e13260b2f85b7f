"""python -m deploy openapi: an API Gateway import body that streams every route, accepted
by cfn-lint and the SAM translator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import openapi
from deploy.__main__ import main
from stream_exports.core.datasets import registry
from stream_exports.http.openapi import document

from .test_template import STREAMING_URI, of_type

pytestmark = pytest.mark.once  # (neither the database nor Django's version changes it)

SOURCE_ARN = "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${RestApi}/*"
ARN = "arn:aws:lambda:eu-west-1:000000000000:function:app"


def methods(body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    paths = body["paths"].items()
    return [(path, name, method) for path, item in paths for name, method in item.items()]


def test_every_method_streams_from_the_function_and_the_rest_is_routed_too():
    body = openapi.gateway_body(document(registry))
    assert body["openapi"] == "3.0.1"
    exports = {"/exports/orders.ndjson", "/exports/orders.csv", "/exports/orders.xlsx"}
    assert {"/", "/{proxy+}", "/exports", *exports} <= set(body["paths"])
    assert set(body["paths"]["/{proxy+}"]) == {openapi.ANY_METHOD}
    assert set(body["paths"]["/exports/orders/jobs"]) == {"post"}
    assert body["paths"]["/exports/jobs/{job_id}/log"]["get"]["parameters"][0]["name"] == "job_id"
    found = methods(body)
    assert len(found) == 15
    for _, _, method in found:
        integration = method["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert integration["httpMethod"] == "POST"
        assert integration["responseTransferMode"] == "STREAM"
        assert integration["timeoutInMillis"] == 900000
        assert STREAMING_URI in integration["uri"]["Fn::Sub"]


def test_a_function_arn_is_written_literally(tmp_path, capsys):
    out = tmp_path / "body.json"
    assert main(["openapi", "--function-arn", ARN, "--output", str(out)]) == 0
    body = json.loads(out.read_text())
    uris = {m["x-amazon-apigateway-integration"]["uri"] for _, _, m in methods(body)}
    assert uris == {
        f"arn:aws:apigateway:eu-west-1:lambda:path/2021-11-15/functions/{ARN}"
        "/response-streaming-invocations"
    }
    with pytest.raises(ValueError, match="not a Lambda function ARN"):
        openapi.streaming_uri("arn:aws:s3:::bucket")


def template(body: dict[str, Any]) -> dict[str, Any]:
    """A small SAM template: the function, a SAM API defined by the body, and a plain
    ``AWS::ApiGateway::RestApi`` with it as ``Body``."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "AppFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "run.sh",
                    "CodeUri": "s3://bucket/lambda.zip",
                },
            },
            "SamApi": {
                "Type": "AWS::Serverless::Api",
                "Properties": {"StageName": "prod", "DefinitionBody": body},
            },
            "RestApi": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {"Name": "exports", "Body": body},
            },
            "InvokePermission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Fn::GetAtt": ["AppFunction", "Arn"]},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {"Fn::Sub": SOURCE_ARN},
                },
            },
        },
    }


def test_cfn_lint_and_the_sam_translator_accept_a_template_that_uses_it(tmp_path, monkeypatch):
    from samtranslator.translator.transform import transform

    body = openapi.gateway_body(document(registry))
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template(body), sort_keys=False))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr

    class Policies:
        def load(self):
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    resources = transform(template(body), {}, Policies())["Resources"]
    apis = of_type(resources, "AWS::ApiGateway::RestApi")
    assert len(apis) == 2
    for api in apis.values():
        found = methods(api["Properties"]["Body"])
        assert len(found) == 15
        for _, _, method in found:
            integration = method["x-amazon-apigateway-integration"]
            assert integration["responseTransferMode"] == "STREAM"
            assert STREAMING_URI in integration["uri"]["Fn::Sub"]
