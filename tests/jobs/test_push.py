"""Pushes through the channel layer: sent from plain threads on one loop, heard elsewhere."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
import redis

from stream_exports.jobs import push

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set: no channel layer to push on"
)


@pytest.fixture
def redis_layer(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
        }
    }
    return push.remote_layer()


def connections_made() -> int:
    """How many connections Redis has accepted since it started."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        return client.info("stats")["total_connections_received"]
    finally:
        client.close()


def test_pushes_from_many_threads_reach_a_subscriber_in_another_loop(redis_layer):
    """Each push arrives; all leave from one sender thread on one connection (a loop,
    a thread and a connection per push cost 80 ms beside a busy export)."""
    job_id, pushes = "push-test-1", 12
    push.notify(job_id)  # the sender's loop and connection, made once

    async def hear() -> int:
        name = await redis_layer.new_channel()
        await redis_layer.group_add(push.group(job_id), name)
        threads_before, connections_before = threading.active_count(), connections_made()
        writers = [
            threading.Thread(target=lambda: [push.notify(job_id) for _ in range(pushes // 3)])
            for _ in range(3)
        ]
        for writer in writers:
            writer.start()
        heard = 0
        async with asyncio.timeout(10):
            while heard < pushes:
                message = await redis_layer.receive(name)
                assert message == {"type": "job.changed"}
                heard += 1
        while any(writer.is_alive() for writer in writers):
            await asyncio.sleep(0.01)
        assert threading.active_count() == threads_before  # the writers are gone, no other
        # At most one more per writer (pushes that overlap share the loop, not a
        # connection), not one per push; the last is connections_made()'s own.
        assert connections_made() - connections_before <= len(writers) + 1
        await redis_layer.group_discard(push.group(job_id), name)
        return heard

    assert asyncio.run(hear()) == pushes
    assert push.sender_loop() is push.sender_loop()
    assert push.sender_loop().is_running()


def test_a_forked_process_gets_a_sender_of_its_own(redis_layer):
    """A thread does not survive fork (gunicorn --preload): the child starts its own loop."""
    push.notify("push-test-2")
    parent_loop = push.sender_loop()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its sender must be new and must deliver
        try:
            push.notify("push-test-2")
            ok = push.sender_loop() is not parent_loop and push.sender_loop().is_running()
            os.write(writer, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    answer = os.read(reader, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
