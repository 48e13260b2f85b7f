"""Make every Lambda route of an existing REST API stream, then deploy it again (an
updated integration does nothing until the API is deployed):
``python -m deploy enable-streaming --api-id ID --stage prod``."""

from __future__ import annotations

import re
from typing import Any

#: ``.../2015-03-31/functions/<arn>/invocations`` -> the response-streaming form.
_LAMBDA_URI = re.compile(
    r"^(arn:aws:apigateway:[^:]+:lambda:path)/\d{4}-\d{2}-\d{2}/functions/(.+?)/"
    r"(?:response-streaming-)?invocations$"
)
TIMEOUT_MS = 900_000


def streaming_uri(uri: str) -> str | None:
    """The response-streaming URI for a Lambda proxy integration URI, else None."""
    match = _LAMBDA_URI.match(uri)
    if match is None:
        return None
    return f"{match[1]}/2021-11-15/functions/{match[2]}/response-streaming-invocations"


def _methods(client: Any, api_id: str) -> list[tuple[str, str, str]]:
    """(resource id, path, HTTP method) of every method of the API."""
    found = []
    for page in client.get_paginator("get_resources").paginate(restApiId=api_id):
        for resource in page["items"]:
            for method in sorted(resource.get("resourceMethods", {})):
                found.append((resource["id"], resource["path"], method))
    return found


def enable_streaming(client: Any, api_id: str, stage: str) -> list[str]:
    """Switch every Lambda proxy integration to STREAM; deploy; return what changed."""
    changed = []
    for resource_id, path, method in _methods(client, api_id):
        integration = client.get_integration(
            restApiId=api_id, resourceId=resource_id, httpMethod=method
        )
        uri = streaming_uri(integration.get("uri", ""))
        if integration.get("type") != "AWS_PROXY" or uri is None:
            continue
        client.update_integration(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=method,
            patchOperations=[
                {"op": "replace", "path": "/uri", "value": uri},
                {"op": "replace", "path": "/responseTransferMode", "value": "STREAM"},
                {"op": "replace", "path": "/timeoutInMillis", "value": str(TIMEOUT_MS)},
            ],
        )
        changed.append(f"{method} {path}")
    # Always: even an unchanged API may have been updated by hand since its last deployment.
    client.create_deployment(
        restApiId=api_id, stageName=stage, description="stream_exports: STREAM integrations"
    )
    return changed
