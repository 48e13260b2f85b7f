"""ASGI streams of a job share one reader: a write costs one database read, however many watch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.utils import timezone

from stream_exports.core.datasets import registry
from stream_exports.jobs import feeds, follow, push
from stream_exports.jobs import lifecycle as jobs
from stream_exports.models import ExportJob, JobStatus

pytestmark = pytest.mark.usefixtures("committed_jobs")

STREAMS = 50
#: Reads come from writes only: no timer read while the test runs.
QUIET = {
    "JOB_RUNNER": "stream_exports.runners.WorkerRunner",
    "POLL_INTERVAL": 60,
    "HEARTBEAT": 60,
}


@pytest.fixture
def counted_reads(monkeypatch) -> dict[str, int]:
    """How often each follower class read the database."""
    counts: dict[str, int] = {}
    for cls in (follow.EventFollower, follow.LogFollower):
        real = cls.read

        def read(self, real=real, name=cls.__name__) -> Any:
            counts[name] = counts.get(name, 0) + 1
            return real(self)

        monkeypatch.setattr(cls, "read", read)
    return counts


@sync_to_async
def new_job(world) -> ExportJob:
    job = jobs.create_job(registry.get("orders"), {}, world["users"]["staff"])
    ExportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now()
    )
    return ExportJob.objects.get(pk=job.pk)


async def drain(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def joined(job: ExportJob, follower: type, count: int) -> feeds.Feed:
    """The job's feed once ``count`` streams share it."""
    key = feeds.feed_key(follower, job.pk)
    async with asyncio.timeout(10):
        while (feed := feeds._feeds.get(key)) is None or feed.streams < count:
            await asyncio.sleep(0.01)
    return feed


async def moved_on(feed: feeds.Feed, version: int) -> None:
    async with asyncio.timeout(5):
        while feed.version == version:
            await feed.wait(version, 5)


@pytest.mark.parametrize(
    "follower, write, separator, ending",
    [
        (
            follow.EventFollower,
            lambda job, n: jobs.record_event(job, "progress"),
            b"\n\n",
            b"event: done",
        ),
        (
            follow.LogFollower,
            lambda job, n: jobs.log(job, f"step {n}"),
            b"\n",
            b"succeeded: 0 rows",
        ),
    ],
)
async def test_streams_of_a_job_share_one_read_per_write(
    world, settings, counted_reads, follower, write, separator, ending
):
    settings.STREAM_EXPORTS = QUIET
    job = await new_job(world)
    streams = [asyncio.create_task(drain(follow.afollow(follower(job.pk)))) for _ in range(STREAMS)]
    feed = await joined(job, follower, STREAMS)
    async with asyncio.timeout(5):  # each stream caught up alone, then the feed read once
        while counted_reads.get(follower.__name__, 0) < STREAMS + 1:
            await asyncio.sleep(0.01)
    counted_reads.clear()

    for number in range(3):
        version = feed.version
        await sync_to_async(write)(job, number)
        await moved_on(feed, version)
    await sync_to_async(jobs.finish)(job, JobStatus.SUCCEEDED)  # a log line, then "done"
    async with asyncio.timeout(10):
        bodies = await asyncio.gather(*streams)

    assert all(body == bodies[0] for body in bodies)
    assert ending in bodies[0].strip().rsplit(separator, 1)[-1], bodies[0][-300:]
    # Five pushes (the finish makes two), each waking the feed at most twice: in-process
    # and through the channel layer when one is set. Fifty streams each reading for
    # themselves would make it 250.
    assert counted_reads[follower.__name__] <= 2 * 5 + 1, counted_reads
    assert not feeds._feeds, "the last stream out stops its feed"


async def test_a_late_stream_catches_up_alone_then_shares(world, settings, counted_reads):
    settings.STREAM_EXPORTS = QUIET
    job = await new_job(world)
    early = asyncio.create_task(drain(follow.afollow(follow.EventFollower(job.pk))))
    feed = await joined(job, follow.EventFollower, 1)
    for _ in range(3):
        await sync_to_async(jobs.record_event)(job, "progress")
    async with asyncio.timeout(5):
        while len(feed.seqs) < 3:
            await asyncio.sleep(0.01)

    late = asyncio.create_task(drain(follow.afollow(follow.EventFollower(job.pk, seen=1))))
    await joined(job, follow.EventFollower, 2)
    await sync_to_async(jobs.finish)(job, JobStatus.SUCCEEDED)
    async with asyncio.timeout(10):
        early_body, late_body = await asyncio.gather(early, late)

    ids = [int(line[4:]) for line in late_body.splitlines() if line.startswith(b"id: ")]
    assert ids == [2, 3, 4, 5], "from its Last-Event-ID to the end, each once"
    assert late_body.startswith(b"retry: ")
    assert early_body.endswith(late_body[late_body.index(b"event: progress\nid: 2") :])


async def test_a_job_deleted_while_watched_ends_its_streams_with_the_error(world, settings):
    settings.STREAM_EXPORTS = QUIET
    job = await new_job(world)
    streams = [
        asyncio.create_task(drain(follow.afollow(follow.EventFollower(job.pk)))) for _ in "ab"
    ]
    feed = await joined(job, follow.EventFollower, 2)

    await sync_to_async(ExportJob.objects.filter(pk=job.pk).delete)()
    push.notify(job.pk)
    async with asyncio.timeout(5):
        results = await asyncio.gather(*streams, return_exceptions=True)
    assert [type(result) for result in results] == [ExportJob.DoesNotExist] * 2
    assert isinstance(feed.error, ExportJob.DoesNotExist)
    assert not feeds._feeds


async def test_a_feed_outliving_the_request_that_started_it_leaves_no_thread(world, settings):
    """Django runs each ASGI request in its own ThreadSensitiveContext (a thread of its
    own for sync calls); the feed must not read on, or leave, a thread of a request that ended."""
    settings.STREAM_EXPORTS = QUIET
    job = await new_job(world)
    threads = threading.active_count()

    async def request() -> bytes:
        async with ThreadSensitiveContext():
            return await drain(follow.afollow(follow.EventFollower(job.pk)))

    first = asyncio.create_task(request())
    feed = await joined(job, follow.EventFollower, 1)
    second = asyncio.create_task(request())
    await joined(job, follow.EventFollower, 2)
    first.cancel()  # the stream that started the feed hangs up
    async with asyncio.timeout(5):
        while feed.streams > 1:
            await asyncio.sleep(0.01)

    await sync_to_async(jobs.record_event)(job, "progress")
    await sync_to_async(jobs.finish)(job, JobStatus.SUCCEEDED)
    async with asyncio.timeout(10):
        body = await second
    assert body.rstrip().rsplit(b"\n\n", 1)[-1].startswith(b"event: done")
    async with asyncio.timeout(5):
        while threading.active_count() > threads:
            await asyncio.sleep(0.05)
