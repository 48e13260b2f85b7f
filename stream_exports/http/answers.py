"""JSON answers: errors as ``{"error": ...}``, bodies encoded like the exports, and the 503
a view answers while its database is unreachable."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

from ..conf import conf
from ..core.encoding import dumps
from ..core.errors import CONNECTION_LOST

__all__ = [
    "NEVER_STORED",
    "database_down_is_503",
    "json_document",
    "json_error",
    "json_response",
]

logger = logging.getLogger(__name__)

P = ParamSpec("P")

#: ``Cache-Control`` of every answer this app makes: rows and signed links are stored by no
#: cache, shared or the browser's (``no-store``); ``no-cache`` as the streams' contract
#: says, for caches that know no ``no-store``; ``private`` for those that know neither.
NEVER_STORED = "private, no-cache, no-store"


def json_error(status: int, message: str, param: str | None = None) -> JsonResponse:
    """``{"error": message[, "param": name]}`` with ``status``."""
    body = {"error": message} if param is None else {"error": message, "param": param}
    return json_document(body, status)


def json_document(body: Any, status: int = 200) -> JsonResponse:
    """``body`` as Django's JSON (lazy text and all: the dataset list, the API document),
    never stored."""
    response = JsonResponse(
        body, status=status, safe=False, json_dumps_params={"ensure_ascii": False}
    )
    response["Cache-Control"] = NEVER_STORED
    return response


def json_response(body: Any, status: int = 200) -> HttpResponse:
    """JSON encoded like the exports (ISO datetimes with microseconds), never stored."""
    response = HttpResponse(dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = NEVER_STORED
    return response


def database_down_is_503(
    view: Callable[Concatenate[HttpRequest, P], HttpResponseBase],
) -> Callable[Concatenate[HttpRequest, P], HttpResponseBase]:
    """A view whose database is unreachable (restart, failover) answers 503 with
    ``Retry-After`` instead of a 500 page: clients retry it."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except CONNECTION_LOST as exc:
            logger.warning("database unavailable for %r: %s", request.path, exc)
            response = json_error(503, "the database is unavailable; retry in a few seconds.")
            response["Retry-After"] = str(conf.UNAVAILABLE_RETRY_AFTER)
            return response

    return wrapper
