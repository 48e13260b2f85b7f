"""Settings for a project behind API Gateway and Lambda Web Adapter: HTTPS is at the
gateway, and the hosts are the execute-api host and the custom domains. It imports nothing
of Django but its exceptions, so a settings module can use it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .environment import behind_api_gateway, on_lambda

__all__ = [
    "MIDDLEWARE",
    "STATIC_STORAGE",
    "behind_api_gateway",
    "gateway_settings",
    "on_lambda",
]

#: The middleware that puts each request under its public prefix (first in ``MIDDLEWARE``).
MIDDLEWARE = "stream_exports.aws.gateway.GatewayPrefixMiddleware"
#: The static files storage whose URLs follow each request's prefix.
STATIC_STORAGE = "stream_exports.aws.gateway.ScriptPrefixStaticFilesStorage"


def gateway_settings(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The settings for HTTPS at the gateway: apply them only behind it.

    ``DJANGO_CUSTOM_DOMAINS`` (comma-separated) are the custom domains; ``AWS_REGION``
    (Lambda sets it) names the execute-api hosts, and without it this refuses
    (``ImproperlyConfigured``): no host pattern wider than one region's execute-api hosts;
    ``DJANGO_HSTS_SECONDS`` (default one year). ``127.0.0.1`` is allowed for the adapter's
    own requests (readiness check, ``/events``); a request through the gateway always
    carries the gateway's host.
    """
    region = environ.get("AWS_REGION", "").strip()
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
        raise ImproperlyConfigured(
            f"AWS_REGION is {region!r}: behind API Gateway it names the execute-api hosts "
            "(.execute-api.<region>.amazonaws.com) that ALLOWED_HOSTS accepts. Lambda sets "
            "it; elsewhere set it to the API's region (e.g. eu-west-1)."
        )
    domains = [d.strip() for d in environ.get("DJANGO_CUSTOM_DOMAINS", "").split(",") if d.strip()]
    execute_api = f".execute-api.{region}.amazonaws.com"
    return {
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": int(environ.get("DJANGO_HSTS_SECONDS", "31536000")),
        "CSRF_TRUSTED_ORIGINS": [f"https://{domain}" for domain in domains],
        "ALLOWED_HOSTS": [execute_api, *domains, "127.0.0.1"],
    }
