"""Following a job as it runs: its SSE status events, or its plain-text log.

One follower (what to read and how to frame it) and two shells: ``follow``
polls the database from a WSGI thread; ``afollow`` catches up alone in an ASGI
event loop, then takes what is new from the job's shared feed (``feeds``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections

from ..conf import conf
from ..core.encoding import dumps, escape_separators
from . import feeds
from .feeds import Item
from .lifecycle import reap_if_stale
from .models import ExportJob, JobEvent, JobLogLine

__all__ = ["EventFollower", "Follower", "LogFollower", "afollow", "follow", "sse_frame"]

logger = logging.getLogger("stream_exports")

KEEPALIVE = b": keepalive\n\n"

F = TypeVar("F", bound="Follower")


def sse_frame(kind: str, seq: int, data: Any) -> bytes:
    """One SSE event: ``event:``, ``id:``, one ``data:`` line, blank line."""
    payload = escape_separators(dumps(data))
    return b"event: %s\nid: %d\ndata: %s\n\n" % (kind.encode(), seq, payload)


def polled(read: Callable[[F], list[Item]]) -> Callable[[F], list[Item]]:
    """Wrap ``read`` to give the database connection back after each read.

    A follower waits far longer than it reads: holding a connection through a
    stream's life would run a database out of connections at a few hundred
    watchers (with a connection pool, closing returns it to the pool).
    """

    def read_and_release(self: F) -> list[Item]:
        try:
            items = read(self)
        except DatabaseError:
            # A busy pool or a database restart: say nothing now, try again.
            self.failures += 1
            logger.warning("job %s: poll failed (%d in a row)", self.job_id, self.failures)
            if self.failures >= conf.MAX_FAILED_POLLS:
                raise
            return []
        finally:
            connections.close_all()
        self.failures = 0
        return items

    return read_and_release


@dataclass
class Follower:
    """Reads what a job wrote after ``seen`` and frames it for the wire."""

    job_id: Any
    seen: int = 0
    follow: bool = True
    finished: bool = field(default=False, init=False)
    failures: int = field(default=0, init=False)
    opened: bool = field(default=False, init=False)
    quiet_since: float = field(default_factory=time.monotonic, init=False)

    keepalive: ClassVar[bytes | None] = None

    @property
    def opening(self) -> bytes:
        """What the stream starts with, before the first frames."""
        return b""

    def read(self) -> list[Item]:
        """Records written since the last read, framed; sets ``finished`` at the end."""
        raise NotImplementedError

    def fork(self) -> Follower:
        """A follower of the same kind from the same place (a feed's reader)."""
        return type(self)(self.job_id, seen=self.seen, follow=self.follow)

    def poll(self) -> bytes:
        """Frames written since the last poll; sets ``finished`` at the end."""
        return b"".join(frame for _, frame in self.read())

    def pace(self, frames: bytes) -> bytes:
        """What to send after a poll: the opening with the first frames (one block, no
        empty event), new frames, or a keepalive after HEARTBEAT of silence; or nothing."""
        now = time.monotonic()
        if frames or not self.opened:
            chunk = frames if self.opened else self.opening + frames
            self.opened, self.quiet_since = True, now
            return chunk
        if self.keepalive and now - self.quiet_since >= conf.HEARTBEAT:
            self.quiet_since = now
            return self.keepalive
        return b""


@dataclass
class EventFollower(Follower):
    """SSE: every status event after ``Last-Event-ID``, ending with ``done``."""

    keepalive: ClassVar[bytes | None] = KEEPALIVE

    @property
    def opening(self) -> bytes:
        return b"retry: %d\n" % conf.SSE_RETRY_MS

    @polled
    def read(self) -> list[Item]:
        job = ExportJob.objects.get(pk=self.job_id)
        reap_if_stale(job)
        events = list(JobEvent.objects.filter(job=job, seq__gt=self.seen)[: conf.FOLLOW_PAGE_SIZE])
        if not events and job.finished:
            # Seen it all, the end too: say the end again so the client stops.
            events = list(JobEvent.objects.filter(job=job, kind="done")[:1])
        if events:
            self.seen = max(self.seen, events[-1].seq)
        self.finished = any(e.kind == "done" for e in events)
        return [(e.seq, sse_frame(e.kind, e.seq, e.data)) for e in events]


@dataclass
class LogFollower(Follower):
    """Plain text: the log so far, then each new line until the job's final line."""

    @polled
    def read(self) -> list[Item]:
        job = ExportJob.objects.get(pk=self.job_id)
        reap_if_stale(job)
        lines = list(JobLogLine.objects.filter(job=job, seq__gt=self.seen)[: conf.FOLLOW_PAGE_SIZE])
        if lines:
            self.seen = lines[-1].seq
        # The final line is written before the job is marked finished.
        self.finished = (job.finished or not self.follow) and len(lines) < conf.FOLLOW_PAGE_SIZE
        return [
            (line.seq, f"{line.at:%Y-%m-%dT%H:%M:%S.%fZ} {line.message}\n".encode())
            for line in lines
        ]


def follow(follower: Follower) -> Iterator[bytes]:
    """WSGI shell: poll every POLL_INTERVAL."""
    while True:
        if chunk := follower.pace(follower.poll()):
            yield chunk
        if follower.finished:
            return
        time.sleep(conf.POLL_INTERVAL)


async def afollow(follower: Follower) -> AsyncIterator[bytes]:
    """ASGI shell: catch up alone, then share the job's feed with its other streams."""
    poll = sync_to_async(follower.poll, thread_sensitive=True)
    while True:
        if chunk := follower.pace(await poll()):
            yield chunk
        if follower.finished:
            return
        if follower.follow:
            break
    async with feeds.joined(follower) as feed:
        while True:
            version = feed.version
            if follower.seen < feed.base:
                # Behind where the feed began (a long backlog): catch up alone.
                chunk = follower.pace(await poll())
                version = -1  # poll again without waiting for the feed
            else:
                follower.seen, frames = feed.since(follower.seen)
                chunk = follower.pace(frames)
                follower.finished = feed.finished_for(follower.seen)
            if chunk:
                yield chunk
            if follower.finished:
                return
            wait = conf.HEARTBEAT
            if follower.keepalive:
                wait = conf.HEARTBEAT - (time.monotonic() - follower.quiet_since)
            await feed.wait(version, max(0.01, wait))
