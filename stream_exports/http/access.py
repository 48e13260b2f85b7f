"""Who is asking: ``request.user``, or the user a signed, expiring URL speaks for.

A signed URL binds a user, a path, an expiry and the parameters that choose
*what* is exported (filters, fields, limit). Parameters that only say *how*
(``after`` to resume, ``trailer``, ``download``, ``follow``, ``lastEventId``)
stay free, so a script can resume a signed download.

The path signed is the path inside the app (``request.path_info``), without the script
prefix (the API Gateway stage, a base path), so a link verifies whichever prefix it came
through: made by ``reverse()`` under a prefix, or by ``export_url`` without one.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core import signing
from django.http import HttpRequest, QueryDict
from django.urls import get_script_prefix

from ..conf import conf
from ..core.query import SIGNATURE, unsigned_params

__all__ = ["AccessDenied", "request_user", "sign_url", "signed_user"]


class AccessDenied(Exception):
    """The caller may not have this; ``status`` is 401 (who are you?) or 403 (no)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bound(params: QueryDict | dict[str, Any]) -> list[list[str]]:
    if isinstance(params, QueryDict):
        items = [(key, value) for key, values in params.lists() for value in values]
    else:
        items = [(key, str(value)) for key, value in params.items()]
    free = unsigned_params()
    return sorted([key, value] for key, value in items if key not in free)


def _inside_app(path: str) -> str:
    """``path`` less the current script prefix (``reverse()`` adds it)."""
    prefix = get_script_prefix()
    if prefix != "/" and path.startswith(prefix):
        return path[len(prefix) - 1 :]
    return path


def sign_url(
    path: str, user: Any, params: dict[str, Any] | None = None, expires: int | None = None
) -> str:
    """``path?params&sig=...`` acting as ``user`` for ``expires`` seconds; what is signed
    is ``path`` inside the app (less the script prefix)."""
    params = dict(params or {})
    expires = conf.SIGNED_URL_EXPIRES if expires is None else expires
    if not 0 < expires <= conf.SIGNED_URL_MAX_AGE:
        raise ValueError(
            f"expires must be between 1 and {conf.SIGNED_URL_MAX_AGE} seconds "
            "(STREAM_EXPORTS['SIGNED_URL_MAX_AGE'])."
        )
    payload = {
        "u": str(user.pk),
        "p": _inside_app(path),
        "q": _bound(params),
        "e": int(time.time()) + expires,
    }
    params[SIGNATURE] = signing.dumps(payload, salt=conf.SIGNING_SALT, compress=True)
    return f"{path}?{urlencode(params)}"


def signed_user(request: HttpRequest) -> Any:
    """The user the request's ``sig`` speaks for; ``AccessDenied(403)`` if it does not hold."""
    token = request.GET.get(SIGNATURE, "")
    try:
        payload = signing.loads(token, salt=conf.SIGNING_SALT, max_age=conf.SIGNED_URL_MAX_AGE)
    except signing.SignatureExpired:
        raise AccessDenied(403, "signed URL has expired; ask for a new one.") from None
    except signing.BadSignature:
        raise AccessDenied(403, "signed URL is not valid (bad signature).") from None
    if payload.get("e", 0) < time.time():
        raise AccessDenied(403, "signed URL has expired; ask for a new one.")
    if payload.get("p") != request.path_info:
        raise AccessDenied(403, "signed URL was made for another path.")
    if payload.get("q") != _bound(request.GET):
        raise AccessDenied(403, "signed URL does not allow changing its filters, fields or limit.")
    user = get_user_model()._default_manager.filter(pk=payload.get("u")).first()
    if user is None or not user.is_active:
        raise AccessDenied(403, "signed URL's user no longer exists or is inactive.")
    return user


def request_user(request: HttpRequest) -> Any:
    """The authenticated caller, or ``AccessDenied(401)``."""
    if SIGNATURE in request.GET:
        return signed_user(request)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise AccessDenied(401, "authentication required: sign in, or use a signed URL.")
    return user
