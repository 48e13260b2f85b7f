"""Where the app runs: on AWS Lambda, and behind API Gateway. No Django imports, so a
settings module can ask too."""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["behind_api_gateway", "on_lambda"]


def on_lambda(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process is a Lambda function's (``AWS_LAMBDA_FUNCTION_NAME`` is set)."""
    return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def behind_api_gateway(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether requests come through API Gateway and Lambda Web Adapter: on Lambda, unless
    ``DJANGO_BEHIND_API_GATEWAY`` says otherwise (``1`` or ``0``)."""
    flag = environ.get("DJANGO_BEHIND_API_GATEWAY", "")
    if flag:
        return flag.lower() in ("1", "true", "yes")
    return on_lambda(environ)
