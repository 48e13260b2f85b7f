"""Signed URLs: made for a user, checked on each request that carries one.

A signed URL binds a user, a path, an expiry and the parameters that choose
*what* is exported (filters, fields, limit). Parameters that only say *how*
(``trailer``, ``download``, ``follow``, ``lastEventId``) stay free, and so does
``after``, so that a script can resume a signed download; but the ``after`` it was made
with is signed as its floor, and its ``limit`` counts from there over every request
(:meth:`SignedLink.bound`): over any sequence of requests a link gives only the rows it
was made for.

The path signed is the path inside the app (``request.path_info``), without the script
prefix (the API Gateway stage, a base path), so a link verifies whichever prefix it came
through: made by ``reverse()`` under a prefix, or by ``export_url`` without one.

A link is bound to its user's credentials as Django binds sessions: it carries an HMAC
keyed by the user's session auth hash, which changes with the password, and the time it
was made, which must be after the user's last
:class:`~stream_exports.links.models.LinkRevocation`. A password change or a "revoke all" ends
every link made before it; ``SECRET_KEY_FALLBACKS`` keep links made with an old key.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core import signing
from django.db.models import Max, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, QueryDict
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from ..conf import conf
from ..core.errors import Refusal
from ..core.query import SIGNATURE, ExportQuery, unsigned_params, within
from .models import LinkRevocation

__all__ = ["AccessDenied", "SignedLink", "sign_url", "signed_link", "signed_user"]

#: Keeps a link's binding to its user apart from every other HMAC of the project.
BINDING_SALT = "stream_exports.http.access.binding"

#: The name the time of the user's last revocation is annotated as when a link is checked.
_LAST_REVOCATION = "stream_exports_links_revoked_at"


class AccessDenied(Refusal):
    """The caller may not have this; ``status`` is 401 (who are you?) or 403 (no).
    ``user``: whom a signed URL that verified but no longer holds speaks for."""

    def __init__(self, status: int, message: str, user: Any = None) -> None:
        super().__init__(message, status=status, user=user)


@dataclass(frozen=True)
class SignedLink:
    """A signed URL that holds: whom it acts as, the ``after`` it was made with (its
    floor; None: from the first row), and ``digest``, which names the link (a SHA-256 of
    its signature: a job it started keeps it)."""

    user: Any
    floor: str | None
    digest: str

    def bound(self, query: ExportQuery) -> ExportQuery:
        """``query`` as this link allows it: ``after`` from its floor on, its limit counted
        from the floor (``core.query.within``)."""
        return within(query, self.floor)


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


def _auth_hashes(user: Any) -> list[str]:
    """The user's session auth hash with ``SECRET_KEY``, then with each fallback key, as
    Django checks a session (``""`` for a user model without one)."""
    current = getattr(user, "get_session_auth_hash", None)
    if current is None:
        return [""]
    fallbacks = getattr(user, "get_session_auth_fallback_hash", tuple)
    return [current(), *fallbacks()]


def _binding(auth_hash: str, user: Any) -> str:
    hmac = salted_hmac(BINDING_SALT, str(user.pk), secret=auth_hash, algorithm="sha256")
    return hmac.hexdigest()[:32]


def _microseconds(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def sign_url(
    path: str, user: Any, params: dict[str, Any] | None = None, expires: int | None = None
) -> str:
    """``path?params&sig=...`` acting as ``user`` for ``expires`` seconds, until the user's
    password changes or their links are revoked; what is signed is ``path`` inside the app
    (less the script prefix)."""
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
        "i": _microseconds(timezone.now()),
        "h": _binding(_auth_hashes(user)[0], user),
        "a": str(params["after"]) if params.get("after") is not None else None,
    }
    params[SIGNATURE] = signing.dumps(payload, salt=conf.SIGNING_SALT, compress=True)
    return f"{path}?{urlencode(params)}"


def signed_user(request: HttpRequest) -> Any:
    """The user the request's ``sig`` speaks for; ``AccessDenied(403)`` if it does not hold."""
    return signed_link(request).user


def signed_link(request: HttpRequest) -> SignedLink:
    """The request's signed URL, verified; ``AccessDenied(403)`` if it does not hold."""
    token = request.GET.get(SIGNATURE, "")
    try:
        payload = signing.loads(token, salt=conf.SIGNING_SALT, max_age=conf.SIGNED_URL_MAX_AGE)
    except signing.SignatureExpired:
        raise AccessDenied(403, "signed URL has expired; ask for a new one.") from None
    except signing.BadSignature:
        raise AccessDenied(403, "signed URL is not valid (bad signature).") from None
    if "h" not in payload:
        raise AccessDenied(
            403,
            "signed URL was made by an earlier version, before links could be revoked; "
            "ask for a new one.",
        )
    if "a" not in payload:
        raise AccessDenied(
            403,
            "signed URL was made by an earlier version, before its rows were bounded; "
            "ask for a new one.",
        )
    if payload.get("e", 0) < time.time():
        refusal = "signed URL has expired; ask for a new one."
    elif payload.get("p") != request.path_info:
        refusal = "signed URL was made for another path."
    elif payload.get("q") != _bound(request.GET):
        refusal = "signed URL does not allow changing its filters, fields or limit."
    else:
        refusal = ""
    if refusal:  # (it verified: it was made for its user, whose the refusal is)
        raise AccessDenied(403, refusal, _users().filter(pk=payload["u"]).first())
    digest = hashlib.sha256(token.encode()).hexdigest()
    return SignedLink(_still_bound(payload), payload["a"], digest)


def _users() -> QuerySet:
    return get_user_model()._default_manager.all()


def _still_bound(payload: dict[str, Any]) -> Any:
    """The link's user, if still active and nothing revoked the link since it was made."""
    revocations = LinkRevocation.objects.filter(user=OuterRef("pk")).values("user")
    last = Subquery(revocations.annotate(last=Max("revoked_at")).values("last"))
    user = _users().annotate(**{_LAST_REVOCATION: last}).filter(pk=payload["u"]).first()
    if user is None or not user.is_active:
        raise AccessDenied(403, "signed URL's user no longer exists or is inactive.", user)
    revoked = getattr(user, _LAST_REVOCATION)
    if revoked is not None and payload.get("i", 0) < _microseconds(revoked):
        when = revoked.isoformat(timespec="seconds")
        message = f"signed URL was revoked (its user's links were revoked at {when})"
        raise AccessDenied(403, f"{message}; ask for a new one.", user)
    bindings = (_binding(auth_hash, user) for auth_hash in _auth_hashes(user))
    if not any(constant_time_compare(payload["h"], binding) for binding in bindings):
        raise AccessDenied(
            403, "signed URL ended when its user's password changed; ask for a new one.", user
        )
    return user
