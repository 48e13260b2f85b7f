"""One reader per job per event loop: a push costs one database read, however many watch.

The ASGI streams of a job share a ``Feed``: a task that waits on pushes (or
polls when nothing can push), reads what is new once, and keeps it for every
stream to take from its own place. A stream catches up alone first (its
``Last-Event-ID``, the log so far), then joins; the last one out stops the task.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from asgiref.sync import sync_to_async

from ..conf import conf
from . import push

__all__ = ["Feed", "Reader", "joined"]

#: One framed record and its number (an event's ``id``, a log line's ``seq``).
Item = tuple[int, bytes]


class Reader(Protocol):
    """What a feed reads with: a job's records after ``seen``, framed for one wire format."""

    job_id: Any
    seen: int
    finished: bool

    def read(self) -> list[Item]:
        """Records written since the last read, framed; sets ``finished`` at the end."""
        ...

    def fork(self) -> Reader:
        """A reader of the same records and framing, from the same place, for a feed."""
        ...


logger = logging.getLogger("stream_exports")


class Feed:
    """What a job wrote after ``base``, read once for all of its streams in this loop."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.base = reader.seen
        self.seqs: list[int] = []
        self.frames: list[bytes] = []
        self.finished = False
        self.error: BaseException | None = None
        self.version = 0
        self.streams = 0
        self._changed = asyncio.Event()
        self.task: asyncio.Task | None = None

    def since(self, seen: int) -> tuple[int, bytes]:
        """(the last number, the frames) after ``seen``; raises the feed's error if it broke."""
        if self.error is not None:
            raise self.error
        start = bisect.bisect_right(self.seqs, seen)
        if start == len(self.seqs):
            return seen, b""
        return self.seqs[-1], b"".join(self.frames[start:])

    def finished_for(self, seen: int) -> bool:
        """Whether a stream that has everything up to ``seen`` has the end too."""
        return self.finished and (not self.seqs or seen >= self.seqs[-1])

    async def wait(self, version: int, timeout: float) -> None:
        """Return once the feed moved past ``version``, or after ``timeout``."""
        if self.version != version:
            return
        # asyncio.timeout, not wait_for: a thousand waiters woken at once would
        # otherwise make (and schedule) a thousand tasks per event.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()

    def _publish(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def run(self) -> None:
        """Read on each push until the job's end; an error is kept for the streams."""
        read = sync_to_async(self.reader.read, thread_sensitive=True)
        try:
            async with push.Listener(self.reader.job_id) as listener:
                while True:
                    last = self.seqs[-1] if self.seqs else self.base
                    items = [(seq, frame) for seq, frame in await read() if seq > last]
                    self.seqs.extend(seq for seq, _ in items)
                    self.frames.extend(frame for _, frame in items)
                    self.finished = self.reader.finished
                    if items or self.finished:
                        self._publish()
                    if self.finished:
                        return
                    # Pushed: read rarely, but often enough to notice a dead worker in time.
                    pushed = min(conf.HEARTBEAT, conf.JOB_STALE_AFTER / 2)
                    await listener.wait(pushed if listener.pushed else conf.POLL_INTERVAL)
        except Exception as exc:
            logger.warning("job %s: feed stopped: %r", self.reader.job_id, exc)
            self.error = exc
            self._publish()


_feeds: dict[tuple[int, type, str], Feed] = {}


def feed_key(kind: type, job_id: Any) -> tuple[int, type, str]:
    """Where the running event loop keeps the feed of ``kind`` for ``job_id``."""
    return (id(asyncio.get_running_loop()), kind, str(job_id))


@contextlib.asynccontextmanager
async def joined(follower: Reader) -> AsyncIterator[Feed]:
    """The feed of ``follower``'s job in this event loop, started from its place if new."""
    key = feed_key(type(follower), follower.job_id)
    feed = _feeds.get(key)
    if feed is None or feed.error is not None:
        feed = _feeds[key] = Feed(follower.fork())
        # A context of its own: the feed outlives the request that started it, whose
        # context (and asgiref's thread for it) ends with that request.
        feed.task = asyncio.create_task(feed.run(), context=contextvars.Context())
    feed.streams += 1
    try:
        yield feed
    finally:
        feed.streams -= 1
        if feed.streams == 0:
            if _feeds.get(key) is feed:
                del _feeds[key]
            assert feed.task is not None
            feed.task.cancel()
            await asyncio.wait({feed.task}, timeout=3.0)
