"""Behind API Gateway (REST) and Lambda Web Adapter: the public URL's prefix, per request,
and the settings for HTTPS at the gateway.

What the adapter forwards (docs/deploy.md, "Where the stage goes"): for a REST API, the
event's ``path``, which has no stage on the execute-api URL (``/prod/x`` arrives as
``/x``) and holds the base path on a custom domain with a base path mapping. The
request context it passes as ``x-amzn-request-context`` has the path the client asked
for (``path``), the ``stage`` and the ``domainName``. So the public prefix is the part
of the context's path before the path the app got, and Django's script-prefix
machinery (``SCRIPT_NAME``, ``set_script_prefix``) carries it into ``reverse()``,
redirects, the admin, static files and signed links.

Those headers are trusted from the adapter only: it runs in the same sandbox, so its
requests come from loopback (``REMOTE_ADDR`` 127.0.0.1 or ::1; the app server must not
rewrite it from ``X-Forwarded-For``: ``deploy/run.sh`` starts uvicorn with
``--no-proxy-headers``). From any other peer the request context and
``X-Forwarded-Proto`` are dropped before Django reads them. From the adapter, the
client's address is the last ``X-Forwarded-For`` entry (the one API Gateway appended),
and a prefix is taken only when it is plain path segments.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any
from urllib.parse import unquote

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.contrib.staticfiles.storage import StaticFilesStorage
from django.http import HttpRequest, HttpResponseBase
from django.urls import get_script_prefix, set_script_prefix

__all__ = [
    "GatewayPrefixMiddleware",
    "ScriptPrefixStaticFilesStorage",
    "from_the_adapter",
    "public_prefix",
    "request_context",
]

logger = logging.getLogger(__name__)

#: The adapter's header with API Gateway's request context (JSON; ``null`` for other events).
CONTEXT_HEADER = "HTTP_X_AMZN_REQUEST_CONTEXT"
#: What only the adapter (API Gateway, through it) may say: dropped from anyone else.
GATEWAY_HEADERS = (CONTEXT_HEADER, "HTTP_X_FORWARDED_PROTO")

#: A prefix of plain path segments: RFC 3986's unreserved characters, no "." or "..".
PLAIN_PREFIX = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+)+")


def from_the_adapter(request: HttpRequest) -> bool:
    """Whether the request's peer is loopback, where Lambda Web Adapter connects from."""
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def request_context(request: HttpRequest) -> dict[str, Any]:
    """The request context the adapter passed, or ``{}`` (no header, ``null``, not a JSON
    object, nested past what ``json`` reads)."""
    try:
        context = json.loads(request.META.get(CONTEXT_HEADER) or "null")
    except (ValueError, RecursionError):
        return {}
    return context if isinstance(context, dict) else {}


def public_prefix(context: Mapping[str, Any], path_info: str) -> tuple[str, str]:
    """``(script_name, path_info)`` of a request the adapter forwarded as ``path_info``.

    - The context's path ends with the forwarded one: the rest is the prefix (the stage
      on the execute-api URL; a base path the adapter removed, ``AWS_LWA_REMOVE_BASE_PATH``).
    - Both start with ``/<stage>/`` (the stage was forwarded, as the runtime does for an
      HTTP API's named stage): the stage moves to the prefix.
    - Otherwise no prefix (a custom domain without a base path).
    """
    public = unquote(str(context.get("path") or ""))
    if not public.startswith("/"):
        return "", path_info
    if public != path_info:
        if path_info == "/" and not public.endswith("/"):
            return public, path_info
        if public.endswith(path_info):
            return public[: len(public) - len(path_info)], path_info
    stage = str(context.get("stage") or "")
    if stage and stage != "$default" and path_info.startswith(f"/{stage}/"):
        return f"/{stage}", path_info[len(stage) + 1 :]
    return "", path_info


def apply_gateway(request: HttpRequest) -> None:
    """From the adapter: the client's address, then the public prefix. From anyone else:
    the gateway's headers dropped."""
    if not from_the_adapter(request):
        if CONTEXT_HEADER in request.META:
            logger.warning(
                "x-amzn-request-context from %s ignored: only Lambda Web Adapter, on "
                "loopback, may send it (an app server that rewrites REMOTE_ADDR from "
                "X-Forwarded-For hides the adapter: start uvicorn with --no-proxy-headers)",
                request.META.get("REMOTE_ADDR"),
            )
        for header in GATEWAY_HEADERS:
            request.META.pop(header, None)
        return
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rpartition(",")[2].strip()
    with suppress(ValueError):  # (none: the adapter's own request, readiness, /events)
        request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(forwarded))
    apply_prefix(request)


def apply_prefix(request: HttpRequest) -> None:
    """Set the request's ``SCRIPT_NAME``, ``path_info`` and the script prefix from its
    request context; ``FORCE_SCRIPT_NAME``, when set, wins (Django applies it). A prefix
    that is not plain path segments (``//host``, ``..``, a scheme) is not taken."""
    if settings.FORCE_SCRIPT_NAME is not None:
        return
    context = request_context(request)
    if not context:
        return
    script_name, path_info = public_prefix(context, request.path_info)
    if script_name and not PLAIN_PREFIX.fullmatch(script_name):
        logger.warning("request context path %r: its prefix is not taken", context.get("path"))
        script_name, path_info = "", request.path_info
    set_script_prefix(script_name or "/")
    if not script_name:
        return
    request.path_info = path_info
    request.path = script_name + path_info
    request.META["SCRIPT_NAME"] = script_name
    request.META["PATH_INFO"] = path_info


class GatewayPrefixMiddleware:
    """Each request under the public prefix the gateway gave it, the gateway's headers
    trusted from the adapter only (first in ``MIDDLEWARE``)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        apply_gateway(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        apply_gateway(request)
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return await response


class ScriptPrefixStaticFilesStorage(StaticFilesStorage):
    """Static URLs under each request's script prefix (``base_url``: relative, ``static/``).

    Django fixes ``STATIC_URL``'s prefix at its first use, and the storage's ``base_url``
    at its first URL, so one process would hand every request the first one's prefix.
    """

    def __init__(self, location: str | None = None, base_url: str = "static/") -> None:
        super().__init__(location=location, base_url=base_url)
        self.relative_url = base_url.strip("/") + "/"

    @property
    def base_url(self) -> str:
        return get_script_prefix() + self.relative_url
