"""sse-starlette's contender in the SSE load: a job's events from Redis pub/sub.

Set up as sse-starlette's broadcasting example has it: one source per process
puts each event in a bounded queue per client, and each client's queue feeds an
``EventSourceResponse`` (default ping, 15 s, or ``SSE_PING``); a client whose
queue fills is dropped. The source is one Redis pub/sub subscription per job,
since the events come from another process (``bench.forward`` publishes each
``JobEvent`` the worker writes); the README points to Redis for that. A stream
ends after the job's ``done``.

    REDIS_URL=redis://127.0.0.1:6379/0 uvicorn bench.starlette_app:app
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator

import redis.asyncio as redis
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from .forward import redis_channel

QUEUE_SIZE = 100
PING = float(os.environ.get("SSE_PING", EventSourceResponse.DEFAULT_PING_INTERVAL))

Queue = asyncio.Queue[ServerSentEvent | None]  # None: dropped


class JobFeed:
    """One subscription to a job's channel, broadcast to a queue per client."""

    def __init__(self, client: redis.Redis, job_id: str) -> None:
        self.clients: set[Queue] = set()
        self.task = asyncio.create_task(self.run(client, job_id))

    async def run(self, client: redis.Redis, job_id: str) -> None:
        async with client.pubsub() as pubsub:
            await pubsub.subscribe(redis_channel(job_id))
            async for message in pubsub.listen():
                if message["type"] == "message":
                    self.broadcast(json.loads(message["data"]))

    def broadcast(self, message: dict) -> None:
        """One event for every client, as the example does; a full queue drops its client."""
        event = ServerSentEvent(message["data"], event=message["event"], id=str(message["id"]))
        for queue in list(self.clients):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.clients.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)


class Feeds:
    """This process's job feeds, each started by its first client, stopped by its last."""

    def __init__(self) -> None:
        self.client: redis.Redis | None = None
        self.feeds: dict[str, JobFeed] = {}

    @contextlib.asynccontextmanager
    async def joined(self, job_id: str) -> AsyncIterator[Queue]:
        if self.client is None:
            self.client = redis.Redis.from_url(os.environ["REDIS_URL"])
        feed = self.feeds.get(job_id) or self.feeds.setdefault(job_id, JobFeed(self.client, job_id))
        queue: Queue = asyncio.Queue(QUEUE_SIZE)
        feed.clients.add(queue)
        try:
            yield queue
        finally:
            feed.clients.discard(queue)
            if not feed.clients and self.feeds.get(job_id) is feed:
                del self.feeds[job_id]
                feed.task.cancel()


feeds = Feeds()


async def job_events(job_id: str) -> AsyncIterator[ServerSentEvent]:
    """The job's events as they are published, until ``done`` (or this client is dropped)."""
    async with feeds.joined(job_id) as queue:
        while (event := await queue.get()) is not None:
            yield event
            if event.event == "done":
                return


async def events(request: Request) -> EventSourceResponse:
    """``GET /jobs/<id>/events``."""
    return EventSourceResponse(job_events(request.path_params["job_id"]), ping=PING)


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[Route("/jobs/{job_id}/events", events), Route("/health", health)],
)
