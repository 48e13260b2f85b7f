"""Errors every layer shares: what a request is refused with before its first byte (one
base, a status each), and what a lost database connection raises."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connections

from ..conf import conf

__all__ = ["CONNECTION_LOST", "OverCap", "Refusal", "on_a_live_connection"]

T = TypeVar("T")

#: What a lost database connection raises (restart, failover, network): it may pass.
CONNECTION_LOST = (OperationalError, InterfaceError)


def on_a_live_connection(write: Callable[[], T], using: str) -> T:
    """``write()`` on database ``using``; when it fails because its connection was lost
    (a stream cut by it ends with a write), once more on a new one. Inside a transaction,
    or on a connection still usable, the error is raised."""
    connection = connections[using]
    try:
        return write()
    except Exception:  # (the driver's own error too: mysqlclient raises one unwrapped)
        if connection.in_atomic_block or connection.is_usable():
            raise
        with suppress(Exception):
            connection.close()
        return write()


class Refusal(Exception):
    """Something the caller asked for that is refused, with the HTTP status that says why
    (400 a bad parameter, 401/403 access, 404 an unknown thing). ``param`` names the bad
    parameter; ``user``, whom the request acted as when that is known only here (a signed
    URL that verified but no longer holds); ``recorded``, what the audit trail keeps (by
    default the message; more, where the caller is told less)."""

    status = 400
    #: Seconds after which to try again (a ``Retry-After`` header), when that is known.
    retry_after: int | None = None

    def __init__(
        self, message: str, *, status: int | None = None, param: str | None = None, user: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.recorded = message
        self.param = param
        self.user = user
        if status is not None:
            self.status = status


class OverCap(Refusal):
    """Over a cap on what may run at once (a 429): ``retry_after`` is ``BUSY_RETRY_AFTER``."""

    status = 429

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.retry_after = conf.BUSY_RETRY_AFTER
