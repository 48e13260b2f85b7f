"""Follow a job: its status events (SSE) until ``done``, or its plain-text log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from .errors import refusal
from .retry import retrying

__all__ = ["Event", "follow_job", "sse_events", "tail_log"]


@dataclass(frozen=True)
class Event:
    """One server-sent event."""

    event: str
    id: str
    data: Any


def sse_events(response: requests.Response) -> Iterator[Event]:
    """Parse ``text/event-stream`` (fields event/id/data, comments skipped)."""
    kind, event_id = "message", ""
    data: list[str] = []
    for raw in response.iter_lines(chunk_size=1024, delimiter=b"\n"):
        line = raw.decode()
        if not line:
            if data:
                yield Event(kind, event_id, json.loads("\n".join(data)))
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            kind = value
        elif name == "id":
            event_id = value
        elif name == "data":
            data.append(value)


def follow_job(
    url: str, retries: int = 5, backoff: float = 0.5, timeout: float = 60.0
) -> Iterator[Event]:
    """Status events of a job (its ``events`` link) until ``done``, reconnecting with
    ``Last-Event-ID`` when cut: no event lost, none repeated."""
    session, last = requests.Session(), {"id": ""}

    def attempt() -> Iterator[Event]:
        headers = {"Last-Event-ID": last["id"]} if last["id"] else {}
        with session.get(url, stream=True, timeout=(10, timeout), headers=headers) as response:
            if response.status_code >= 400:
                raise refusal(response)
            for event in sse_events(response):
                if event.id and event.id == last["id"]:
                    continue  # a finished job repeats its done event
                last["id"] = event.id or last["id"]
                yield event
                if event.event == "done":
                    return

    return retrying(attempt, retries, backoff, f"following {url}")


def tail_log(
    url: str, retries: int = 5, backoff: float = 0.5, timeout: float = 120.0
) -> Iterator[str]:
    """Lines of a job's log (its ``log`` link) until the final one; after a cut the
    log is read again and the lines already seen are skipped."""
    session, seen = requests.Session(), {"lines": 0}

    def attempt() -> Iterator[str]:
        with session.get(url, stream=True, timeout=(10, timeout)) as response:
            if response.status_code >= 400:
                raise refusal(response)
            index = 0
            for raw in response.iter_lines(delimiter=b"\n"):
                if not raw:  # (what follows the last "\n")
                    continue
                index += 1
                if index > seen["lines"]:
                    seen["lines"] = index
                    yield raw.decode()

    return retrying(attempt, retries, backoff, f"reading {url}")
