"""Signed links: URLs that act as their user for a while, for scripts and ``EventSource``.

``signing`` makes and checks them; ``models`` keeps each user's "revoke all"
(:class:`~stream_exports.links.models.LinkRevocation`); ``admin`` revokes them in the admin.
The public names, importable from here: :func:`sign_url`, :func:`revoke_links`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["revoke_links", "sign_url"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that this package stays import-free (the app's models
    # import links.models while Django loads them).
    if name == "sign_url":
        from .signing import sign_url

        return sign_url
    if name == "revoke_links":
        from .models import revoke_links

        return revoke_links
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
