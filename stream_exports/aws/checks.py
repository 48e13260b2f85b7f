"""System checks for a project on AWS Lambda, behind API Gateway: each says what to change.

=====================  ===========================================================
``stream_exports.W002``  behind API Gateway: ``SECURE_PROXY_SSL_HEADER`` does not trust it
``stream_exports.W003``  behind API Gateway: ``ALLOWED_HOSTS`` refuses the execute-api host
``stream_exports.W004``  behind API Gateway: ``ALLOWED_HOSTS`` accepts any host (``*``)
``stream_exports.W005``  behind API Gateway: session or CSRF cookies are not ``Secure``
``stream_exports.W006``  behind API Gateway: nothing puts requests under the stage's prefix
``stream_exports.W011``  the gateway middleware is on, but not on Lambda, and nothing says so
=====================  ===========================================================

W002-W006 run behind API Gateway only: on Lambda, or where ``DJANGO_BEHIND_API_GATEWAY``
says so. W011 runs wherever the middleware is installed.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.http.request import validate_host

from ..checks import _warning
from .environment import behind_api_gateway, on_lambda
from .settings import MIDDLEWARE

__all__ = ["check_api_gateway", "check_gateway_trust"]

#: What API Gateway sends Lambda Web Adapter, which passes it on: HTTPS is at the gateway.
GATEWAY_PROTO_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@register(Tags.security)
def check_api_gateway(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Behind API Gateway and Lambda Web Adapter (:func:`behind_api_gateway`): HTTPS at the
    gateway is trusted, the hosts are the gateway's, cookies are Secure, links get the stage."""
    if not behind_api_gateway():
        return []
    docs = "See stream_exports.aws.settings.gateway_settings() and docs/deploy.md."
    warnings: list[CheckMessage] = []
    if tuple(settings.SECURE_PROXY_SSL_HEADER or ()) != GATEWAY_PROTO_HEADER:
        warnings.append(
            _warning(
                "Behind API Gateway, SECURE_PROXY_SSL_HEADER does not trust the gateway's "
                "X-Forwarded-Proto: requests look like http, and session POSTs fail CSRF "
                "unless the app server rewrites the scheme.",
                2,
                f"Set SECURE_PROXY_SSL_HEADER = {GATEWAY_PROTO_HEADER!r}. {docs}",
            )
        )
    region = os.environ.get("AWS_REGION", "us-east-1")
    api_host = f"abcde12345.execute-api.{region}.amazonaws.com"
    if not validate_host(api_host, settings.ALLOWED_HOSTS):
        warnings.append(
            _warning(
                f"Behind API Gateway, ALLOWED_HOSTS refuses the execute-api host ({api_host}).",
                3,
                f"Add '.execute-api.{region}.amazonaws.com' (and your custom domain). {docs}",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        warnings.append(
            _warning(
                "Behind API Gateway, ALLOWED_HOSTS accepts any host ('*').",
                4,
                f"Name the execute-api hosts and your custom domains only. {docs}",
            )
        )
    if not (settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE):
        warnings.append(
            _warning(
                "Behind API Gateway, session or CSRF cookies are not Secure: it is HTTPS only.",
                5,
                "Set SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True.",
            )
        )
    if settings.FORCE_SCRIPT_NAME is None and MIDDLEWARE not in settings.MIDDLEWARE:
        warnings.append(
            _warning(
                "Behind API Gateway, nothing puts requests under their public prefix: at the "
                "execute-api URL (/<stage>/...) links, redirects and the admin lose the stage.",
                6,
                f"Put {MIDDLEWARE!r} first in MIDDLEWARE "
                "(or set FORCE_SCRIPT_NAME for one fixed prefix).",
            )
        )
    return warnings


@register(Tags.security)
def check_gateway_trust(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The gateway middleware trusts ``x-amzn-request-context`` and ``X-Forwarded-Proto``
    from any loopback peer: right on Lambda (only Lambda Web Adapter is there), a choice
    elsewhere (``deploy local``'s proxy, a proxy of one's own that drops both headers
    from clients), which ``DJANGO_BEHIND_API_GATEWAY=1`` says was made."""
    if MIDDLEWARE not in settings.MIDDLEWARE or on_lambda() or behind_api_gateway():
        return []
    return [
        _warning(
            f"{MIDDLEWARE} is in MIDDLEWARE but this process is not on AWS "
            "Lambda: it takes each request's public prefix and scheme from headers that any "
            "client on this machine (a local proxy's) can send.",
            11,
            "Remove it off Lambda; or, behind a loopback proxy that drops a client's "
            "x-amzn-request-context and X-Forwarded-Proto (as Lambda Web Adapter and "
            "python -m deploy local do), set DJANGO_BEHIND_API_GATEWAY=1.",
        )
    ]
