"""``python -m deploy openapi``: the API's OpenAPI document as API Gateway imports it.

The app's own document (``GET /exports/openapi.json``, every registered dataset),
as OpenAPI 3.0 (what API Gateway's import reads), reduced to what the gateway
routes on: each path and method with its path parameters, and on every method an
``x-amazon-apigateway-integration`` that streams (``aws_proxy`` to the function's
``response-streaming-invocations``, ``responseTransferMode: STREAM``). ``/`` and
``/{proxy+}`` (any method) route the rest (the admin, static files, ``/events``).

The body goes to ``put_rest_api``/``import_rest_api``, or into a template as an
``AWS::ApiGateway::RestApi`` ``Body`` or a SAM ``DefinitionBody``: without
``--function-arn`` the URI is an ``Fn::Sub`` of ``${AppFunction.Arn}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "ANY_METHOD",
    "TIMEOUT_MS",
    "add_arguments",
    "gateway_body",
    "integration",
    "run",
    "streaming_uri",
]

ANY_METHOD = "x-amazon-apigateway-any-method"
TIMEOUT_MS = 900_000  # 15 minutes, Lambda's own limit
_URI = (
    "arn:aws:apigateway:{region}:lambda:path/2021-11-15/functions/{arn}"
    "/response-streaming-invocations"
)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def streaming_uri(function_arn: str | None = None) -> str | dict[str, str]:
    """The integration URI: literal for ``function_arn`` (its region), else an ``Fn::Sub``
    of the template's ``AppFunction``."""
    if function_arn is None:
        return {"Fn::Sub": _URI.format(region="${AWS::Region}", arn="${AppFunction.Arn}")}
    parts = function_arn.split(":")
    if len(parts) < 7 or parts[:3] != ["arn", "aws", "lambda"]:
        raise ValueError(f"not a Lambda function ARN: {function_arn!r}")
    return _URI.format(region=parts[3], arn=function_arn)


def integration(function_arn: str | None = None) -> dict[str, Any]:
    """``x-amazon-apigateway-integration``: the function's stream, passed through."""
    return {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": streaming_uri(function_arn),
        "responseTransferMode": "STREAM",
        "timeoutInMillis": TIMEOUT_MS,
        "passthroughBehavior": "when_no_match",
    }


def _method(operation: dict[str, Any], function_arn: str | None) -> dict[str, Any]:
    path_parameters = [
        {"name": p["name"], "in": "path", "required": True, "schema": {"type": "string"}}
        for p in operation.get("parameters", [])
        if p.get("in") == "path"
    ]
    method: dict[str, Any] = {
        "responses": {"200": {"description": "Streamed from the function (aws_proxy)."}},
        "x-amazon-apigateway-integration": integration(function_arn),
    }
    for key in ("operationId", "summary"):
        if key in operation:
            method[key] = operation[key]
    if path_parameters:
        method["parameters"] = path_parameters
    return method


def _any(function_arn: str | None, *parameters: str) -> dict[str, Any]:
    operation = {"parameters": [{"name": name, "in": "path"} for name in parameters]}
    return {ANY_METHOD: _method(operation, function_arn)}


def gateway_body(spec: dict[str, Any], function_arn: str | None = None) -> dict[str, Any]:
    """``spec`` (the app's OpenAPI document) as an API Gateway import body."""
    paths: dict[str, Any] = {"/": _any(function_arn), "/{proxy+}": _any(function_arn, "proxy")}
    for path, item in spec["paths"].items():  # (the gateway's resources have no trailing /)
        paths[path.rstrip("/") or "/"] = {
            name: _method(operation, function_arn)
            for name, operation in item.items()
            if name in _METHODS
        }
    return {
        "openapi": "3.0.1",
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "paths": paths,
    }


def app_document() -> dict[str, Any]:
    """The app's document for every registered dataset (Django set up from
    ``DJANGO_SETTINGS_MODULE``, the demo project's by default)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from stream_exports.core.datasets import registry
    from stream_exports.http.openapi import document

    return document(registry)


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--output", type=Path, help="write here (default: standard output)")
    command.add_argument(
        "--function-arn", help="the streaming function's ARN (default: Fn::Sub ${AppFunction.Arn})"
    )


def run(args: argparse.Namespace) -> int:
    body = json.dumps(gateway_body(app_document(), args.function_arn), indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(body)
    else:
        args.output.write_text(body)
        print(f"{args.output}: {len(body)} bytes", file=sys.stderr)
    return 0
