"""Telling a job's owner that it ended: the mail (``mail``), and the links a message about a
finished job carries, absolute on the address it was started at (``links``).

``mail.mail_owner`` hears :data:`~stream_exports.signals.job_finished` (connected when the
app is ready). The public names, importable from here: :func:`links_for`, :class:`JobLinks`
(for a project's own receivers: a webhook, a chat message).
"""

from __future__ import annotations

from typing import Any

__all__ = ["JobLinks", "links_for"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that this package stays import-free (the app's models
    # are not loaded yet when Django imports its packages).
    if name in __all__:
        from . import links

        return getattr(links, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
