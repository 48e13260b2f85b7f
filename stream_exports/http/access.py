"""Who is asking: ``request.user`` (a session, or any auth the project installs), or the
user a signed URL speaks for (:mod:`stream_exports.links.signing`), with what that URL
allows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from ..core.query import SIGNATURE, ExportQuery
from ..links.signing import AccessDenied, SignedLink, signed_link
from ..moved import moved_names

__all__ = ["AccessDenied", "Caller", "request_caller", "request_user"]


@dataclass(frozen=True)
class Caller:
    """The authenticated caller, and the signed URL it came with (None: a session)."""

    user: Any
    link: SignedLink | None = None

    def bound(self, query: ExportQuery) -> ExportQuery:
        """``query`` as the caller may have it: a signed URL's rows only."""
        return query if self.link is None else self.link.bound(query)


def request_caller(request: HttpRequest) -> Caller:
    """The authenticated caller, or ``AccessDenied`` (401 nobody, 403 a link that does not
    hold)."""
    if SIGNATURE in request.GET:
        link = signed_link(request)
        return Caller(link.user, link)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise AccessDenied(401, "authentication required: sign in, or use a signed URL.")
    return Caller(user)


def request_user(request: HttpRequest) -> Any:
    """The authenticated caller's user (:func:`request_caller`)."""
    return request_caller(request).user


__getattr__ = moved_names(__name__, {"sign_url": "stream_exports.links.sign_url"})
