"""The SSE load's publisher hook: each ``JobEvent`` written, forwarded to another feed.

The side-by-side contenders of the SSE load (bench/sse.py) serve the events of
the same kind of job as this package, with the same payloads and ids. The worker
writes each event to the database as always; with ``BENCH_FORWARD`` set, this
hook then hands it on, once the write has committed (when this package pushes it
too):

- ``eventstream``: django-eventstream's ``send_event`` on the job's channel (its
  storage numbers a channel's events 1, 2, ... as the job's ``seq``);
- ``redis``: a Redis pub/sub message on the job's channel, which the sse-starlette
  app (bench/starlette_app.py) reads.

No Django import at module level: the sse-starlette app imports the channel names.
"""

from __future__ import annotations

import json
import os
from functools import cache, partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

    from stream_exports.models import JobEvent


def eventstream_channel(job_id: Any) -> str:
    """The django-eventstream channel of a job."""
    return f"job-{job_id}"


def redis_channel(job_id: Any) -> str:
    """The Redis pub/sub channel the sse-starlette app reads a job's events from."""
    return f"bench.job.{job_id}"


def to_eventstream(event: JobEvent) -> None:
    """``send_event`` as django-eventstream's README has it: channel, event type, data."""
    from django_eventstream import send_event

    send_event(eventstream_channel(event.job_id), event.kind, event.data)


@cache
def redis_client() -> redis.Redis:
    """One connection per process (``REDIS_URL``)."""
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


def to_redis(event: JobEvent) -> None:
    """The event as JSON (``id``, ``event``, ``data`` as JSON text) on the job's channel."""
    message = {"id": event.seq, "event": event.kind, "data": json.dumps(event.data)}
    redis_client().publish(redis_channel(event.job_id), json.dumps(message))


PUBLISHERS = {"eventstream": to_eventstream, "redis": to_redis}


def job_event_saved(sender: type, instance: JobEvent, created: bool, **kwargs: Any) -> None:
    """``post_save`` of ``JobEvent``: forward a new event once its write commits."""
    from django.conf import settings
    from django.db import transaction

    if created:
        transaction.on_commit(partial(PUBLISHERS[settings.BENCH_FORWARD], instance))
