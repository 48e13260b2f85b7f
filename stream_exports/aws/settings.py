"""Settings for a project behind API Gateway and Lambda Web Adapter: HTTPS is at the
gateway, and the hosts are the execute-api host and the custom domains. No Django imports,
so a settings module can use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["MIDDLEWARE", "STATIC_STORAGE", "behind_api_gateway", "gateway_settings"]

#: The middleware that puts each request under its public prefix (first in ``MIDDLEWARE``).
MIDDLEWARE = "stream_exports.aws.gateway.GatewayPrefixMiddleware"
#: The static files storage whose URLs follow each request's prefix.
STATIC_STORAGE = "stream_exports.aws.gateway.ScriptPrefixStaticFilesStorage"


def behind_api_gateway(environ: Mapping[str, str] = os.environ) -> bool:
    """On Lambda (``AWS_LAMBDA_FUNCTION_NAME`` is set), unless ``DJANGO_BEHIND_API_GATEWAY``
    says otherwise (``1`` or ``0``)."""
    flag = environ.get("DJANGO_BEHIND_API_GATEWAY", "")
    if flag:
        return flag.lower() in ("1", "true", "yes")
    return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def gateway_settings(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The settings for HTTPS at the gateway: apply them only behind it.

    ``DJANGO_CUSTOM_DOMAINS`` (comma-separated) are the custom domains; ``AWS_REGION``
    (Lambda sets it) names the execute-api hosts; ``DJANGO_HSTS_SECONDS`` (default one
    year). ``127.0.0.1`` is allowed for the adapter's own requests (readiness check,
    ``/events``); a request through the gateway always carries the gateway's host.
    """
    region = environ.get("AWS_REGION", "")
    domains = [d.strip() for d in environ.get("DJANGO_CUSTOM_DOMAINS", "").split(",") if d.strip()]
    execute_api = f".execute-api.{region}.amazonaws.com" if region else ".amazonaws.com"
    return {
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": int(environ.get("DJANGO_HSTS_SECONDS", "31536000")),
        "CSRF_TRUSTED_ORIGINS": [f"https://{domain}" for domain in domains],
        "ALLOWED_HOSTS": [execute_api, *domains, "127.0.0.1"],
    }
