"""Caps on the streams open at once on the whole site, every process counted: in all
(``MAX_STREAMS``) and per user (``MAX_STREAMS_PER_USER``).

Each open stream holds a lease, a row of :class:`StreamLease`: inserted as the stream
opens (then the live leases are counted: over a cap, it is deleted again and the answer
is a 429), deleted as the stream ends, however it ends. A lease expires
``STREAM_LEASE_SECONDS`` after it was last renewed; each process renews its own every
third of that from a thread of its own (one ``UPDATE``), so the leases of a process
that died free themselves. Any process can count them: Lambda's, a process per request,
too. With both caps at 0 nothing is written.

Two writes and one count per stream, none per chunk (docs/security.md has the cost).
Concurrent opens at a cap may all be refused (each counts the others), never all let
through. While the database is unreachable a stream cannot be counted and is refused
as every view is then (503).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import connections, models
from django.db.models import Count, Q
from django.utils import timezone

from ..conf import conf
from ..core.errors import OverCap, on_a_live_connection

__all__ = ["StreamLease", "StreamLimiter", "TooManyStreams", "limiter"]

logger = logging.getLogger(__name__)


class TooManyStreams(OverCap):
    """Over a stream cap (a 429 naming it)."""


#: This process, as its leases name it (a process that ends never comes back under it).
HOLDER = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StreamLease(models.Model):
    """One open stream's place under the caps, until it ends or ``expires_at``."""

    user = models.CharField(max_length=64, help_text="The primary key of its user.")
    holder = models.CharField(max_length=100, help_text="The process serving it.")
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "stream lease"

    def __str__(self) -> str:
        return f"stream of user {self.user} on {self.holder} until {self.expires_at}"


def _lifetime() -> timedelta:
    return timedelta(seconds=conf.STREAM_LEASE_SECONDS)


class Renewer(threading.Thread):
    """Renews this process's leases every third of their lifetime and deletes expired ones
    (any process's), on a connection of its own (a stream's may be inside its query's
    transaction, whose writes others would not see); ends when the process holds none."""

    def __init__(self, limiter: StreamLimiter) -> None:
        super().__init__(daemon=True, name="stream-leases")
        self.limiter = limiter

    def run(self) -> None:
        while True:
            time.sleep(conf.STREAM_LEASE_SECONDS / 3)
            if self.limiter.release_renewer(self):
                return
            try:
                self.renew()
            except Exception:  # (the database away: the leases expire; next round again)
                logger.warning("could not renew this process's stream leases", exc_info=True)
            finally:
                connections.close_all()

    def renew(self) -> None:
        now = timezone.now()
        held = self.limiter.held()
        if held:
            StreamLease.objects.filter(pk__in=held).update(expires_at=now + _lifetime())
        StreamLease.objects.filter(expires_at__lt=now - _lifetime()).delete()


def _no_release() -> None:
    pass


class StreamLimiter:
    """Counts open streams across processes; ``acquire`` returns the (idempotent) release."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._held: set[Any] = set()
        self._renewer: Renewer | None = None

    def held(self) -> list[Any]:
        """The leases this process holds (their primary keys)."""
        with self.lock:
            return list(self._held)

    def acquire(self, user_key: Any) -> Callable[[], None]:
        """A place under the caps for a stream of the user ``user_key``; ``TooManyStreams``
        when over one."""
        total_cap, user_cap = conf.MAX_STREAMS, conf.MAX_STREAMS_PER_USER
        if not (total_cap or user_cap):
            return _no_release
        now = timezone.now()
        user = str(user_key)
        lease = StreamLease.objects.create(user=user, holder=HOLDER, expires_at=now + _lifetime())
        live = StreamLease.objects.filter(expires_at__gt=now)
        counts = live.aggregate(total=Count("pk"), mine=Count("pk", filter=Q(user=user)))
        over = _over(counts["total"], counts["mine"], total_cap, user_cap)
        if over is not None:
            StreamLease.objects.filter(pk=lease.pk).delete()
            raise TooManyStreams(over)
        self._hold(lease.pk)
        released = False

        def release() -> None:
            nonlocal released
            with self.lock:
                if released:
                    return
                released = True
                self._held.discard(lease.pk)
            _delete(lease.pk)

        return release

    def _hold(self, pk: Any) -> None:
        with self.lock:
            self._held.add(pk)
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = Renewer(self)
                self._renewer.start()

    def release_renewer(self, renewer: Renewer) -> bool:
        """Whether ``renewer`` may end, this process holding no lease (a later stream then
        starts another)."""
        with self.lock:
            if self._held:
                return False
            if self._renewer is renewer:
                self._renewer = None
            return True


def _over(total: int, mine: int, total_cap: int, user_cap: int) -> str | None:
    """Why a stream that makes ``total`` open (``mine`` its user's) is over a cap, or None."""
    if total_cap and total > total_cap:
        return (
            f"{total_cap} streams are open on this site, the most allowed (MAX_STREAMS); "
            "try again soon."
        )
    if user_cap and mine > user_cap:
        return (
            f"you have {user_cap} streams open, the most allowed (MAX_STREAMS_PER_USER); "
            "close one or try again soon."
        )
    return None


def _delete(pk: Any) -> None:
    """Delete a lease as its stream ends (on a new connection if the stream's was lost); a
    database that fails here is logged: the lease expires by itself."""
    leases = StreamLease.objects.filter(pk=pk)
    try:
        on_a_live_connection(leases.delete, leases.db)
    except Exception:  # (a stream's end never fails for it)
        logger.warning("stream lease %s could not be released; it expires", pk, exc_info=True)


limiter = StreamLimiter()
