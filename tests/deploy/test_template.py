"""The template passes cfn-lint; its SAM transform streams every route; no account id."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..servers import ROOT

pytestmark = pytest.mark.once  # (neither the database nor Django's version changes it)

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
    assert '"JOB_RUNNER": "stream_exports.runners.LambdaRunner"' in runner
    assert '"JOB_LAMBDA_FUNCTION": "${JobsFunction}"' in runner
    for name, function in functions.items():
        props = function["Properties"]
        assert env[name]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
        assert env[name]["AWS_LWA_PASS_THROUGH_PATH"] == "/events"
        assert env[name]["EXPORTS_BUCKET"] == {"Ref": "ExportsBucket"}
        # HTTPS at the gateway, on purpose; the hosts come from the region and the domains
        assert env[name]["DJANGO_BEHIND_API_GATEWAY"] == "1"
        assert env[name]["DJANGO_CUSTOM_DOMAINS"] == {"Ref": "CustomDomains"}
        assert "DJANGO_ALLOWED_HOSTS" not in env[name]
        assert props["Handler"] == "deploy/run.sh"
        assert props["Timeout"] == {"Ref": "TimeoutSeconds"}
        assert props["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
        assert "753240598075" in json.dumps(props["Layers"])
    # Only the app may invoke the jobs function; it reads what the jobs function writes.
    policies = json.dumps(of_type(resources, "AWS::IAM::Role")["AppFunctionRole"])
    assert "lambda:InvokeFunction" in policies and "JobsFunction" in policies
    (config,) = of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["MaximumRetryAttempts"] == 0


def test_jobs_continue_in_their_own_function_and_files_go_straight_to_s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    resources = sam_transform()
    jobs = of_type(resources, "AWS::Lambda::Function")["JobsFunction"]["Properties"]
    name = "${AWS::StackName}-jobs"
    assert jobs["FunctionName"] == {"Fn::Sub": name}
    runner = jobs["Environment"]["Variables"]["STREAM_EXPORTS"]["Fn::Sub"]
    assert '"JOB_RUNNER": "stream_exports.runners.LambdaRunner"' in runner
    assert f'"JOB_LAMBDA_FUNCTION": "{name}"' in runner  # it invokes itself to continue
    roles = of_type(resources, "AWS::IAM::Role")
    jobs_role = json.dumps(roles["JobsFunctionRole"])
    assert "lambda:InvokeFunction" in jobs_role and name in jobs_role
    for action in ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"):
        assert action in jobs_role
    assert "s3:AbortMultipartUpload" in json.dumps(roles["AppFunctionRole"])  # the reaper's
    bucket = of_type(resources, "AWS::S3::Bucket")["ExportsBucket"]["Properties"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["AbortUnfinishedUploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }
    assert "EphemeralStorage" not in jobs  # no /tmp beyond Lambda's default is needed


def test_no_account_id_in_deploy():
    for path in (ROOT / "deploy").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".sh", ".yaml", ".md"):
            assert set(re.findall(r"\b\d{12}\b", path.read_text())) <= {"753240598075"}, path
    # The only 12-digit number is the Lambda Web Adapter layer's publisher, AWS's own.
    assert set(re.findall(r"\b\d{12}\b", TEMPLATE.read_text())) == {"753240598075"}


def test_functions_are_traced_and_the_stage_logs_access_without_query_strings(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    resources = sam_transform()
    for function in of_type(resources, "AWS::Lambda::Function").values():
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] is True
    access = stage["Properties"]["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(access["Format"])
    assert fields["path"] == "$context.path"
    assert "querystring" not in access["Format"].lower()  # sig never lands in access logs
    (account,) = of_type(resources, "AWS::ApiGateway::Account").values()
    assert account["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayLogRole", "Arn"]
    }


def test_the_allowed_origins_of_front_ends_are_a_parameter(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    functions = of_type(sam_transform(), "AWS::Lambda::Function")
    env = functions["AppFunction"]["Properties"]["Environment"]["Variables"]
    assert env["DJANGO_CORS_ALLOWED_ORIGINS"] == {"Ref": "CorsAllowedOrigins"}


def test_the_package_is_built_for_the_templates_python_and_takes_the_newest_django():
    from deploy.package import LAMBDA_PYTHON, resolved_versions

    template = yaml.load(TEMPLATE.read_text(), Loader=cfn_loader())
    assert template["Globals"]["Function"]["Runtime"] == f"python{LAMBDA_PYTHON}"
    versions = resolved_versions()  # pip's resolution for Lambda's Linux and Python
    assert versions["django"].startswith("6."), versions
    assert {"stream_exports", "psycopg-binary", "uvicorn"} <= versions.keys(), versions
