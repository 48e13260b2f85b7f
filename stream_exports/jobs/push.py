"""Progress pushed to listeners as it is written.

The database stays the truth: a push only says "job X wrote something", and
the listener reads what is new. A lost push costs latency, never an event.
Listeners in the same process are woken directly (thread-safe); listeners in
other processes through the channel layer (channels-redis), when one is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections import defaultdict
from typing import Any

from ..conf import conf

__all__ = ["Listener", "group", "notify"]

logger = logging.getLogger("stream_exports")

try:
    from channels.layers import InMemoryChannelLayer, get_channel_layer
except ImportError:  # channels is an optional extra
    InMemoryChannelLayer = get_channel_layer = None

_local: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)
_local_lock = threading.Lock()

_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def group(job_id: Any) -> str:
    """The channel-layer group that hears about ``job_id``."""
    return f"stream_exports.job.{job_id}"


def remote_layer() -> Any:
    """The channel layer that reaches other processes, or None (none, or in-memory)."""
    if get_channel_layer is None:
        return None
    try:
        channel_layer = get_channel_layer()
    except Exception:
        logger.warning("channel layer unavailable; job streams will poll", exc_info=True)
        return None
    return None if isinstance(channel_layer, InMemoryChannelLayer) else channel_layer


def notify(job_id: Any) -> None:
    """Wake every listener of ``job_id``, here and (best effort) elsewhere."""
    with _local_lock:
        targets = list(_local.get(str(job_id), ()))
    for loop, event in targets:
        with contextlib.suppress(RuntimeError):  # that loop has closed
            loop.call_soon_threadsafe(event.set)
    channel_layer = remote_layer()
    if channel_layer is None:
        return
    message = channel_layer.group_send(group(job_id), {"type": "job.changed"})
    try:
        asyncio.run_coroutine_threadsafe(message, sender_loop()).result(conf.PUSH_TIMEOUT)
    except Exception:
        logger.warning("could not push job %s progress; listeners poll", job_id, exc_info=True)


def sender_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for pushes, on a daemon thread of its own.

    The channel layer keeps its connection per event loop: ``async_to_sync``
    from a plain thread would make a thread, a loop and a connection for each
    push, each a slow start beside a busy export thread.
    """
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():  # none yet, or forked
            loop = asyncio.new_event_loop()
            name = "stream-exports-push"
            threading.Thread(target=loop.run_forever, name=name, daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


class Listener:
    """Wakes an async stream when its job writes something (``async with``)."""

    def __init__(self, job_id: Any) -> None:
        self.key = str(job_id)
        self.event = asyncio.Event()
        self.remote: asyncio.Task | None = None
        self.subscribed = False
        self.channel_layer = remote_layer()

    @property
    def pushed(self) -> bool:
        """Whether writers in other processes reach this listener (else: poll)."""
        return self.subscribed and self.remote is not None and not self.remote.done()

    async def __aenter__(self) -> Listener:
        with _local_lock:
            _local[self.key].add((asyncio.get_running_loop(), self.event))
        if self.channel_layer is not None:
            self.remote = asyncio.create_task(self._receive())
        return self

    async def _receive(self) -> None:
        channel_layer = self.channel_layer
        name = await channel_layer.new_channel()
        await channel_layer.group_add(group(self.key), name)
        self.subscribed = True
        # Wake the reader once: what was written before the subscription took is read
        # now, and the reader stops polling at the no-push pace.
        self.event.set()
        try:
            while True:
                await channel_layer.receive(name)
                self.event.set()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel_layer.group_discard(group(self.key), name), 2.0)

    async def wait(self, timeout: float) -> bool:
        """Wait until woken or ``timeout``; True when woken."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        self.event.clear()
        return True

    async def __aexit__(self, *exc: object) -> None:
        with _local_lock:
            self._forget()
        if self.remote is not None:
            # Never let a slow channel layer hold the end of a stream.
            self.remote.cancel()
            await asyncio.wait({self.remote}, timeout=3.0)

    def _forget(self) -> None:
        listeners = _local.get(self.key)
        if listeners is None:
            return
        listeners.discard((asyncio.get_running_loop(), self.event))
        if not listeners:
            del _local[self.key]
