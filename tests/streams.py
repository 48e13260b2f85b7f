"""Reading streamed answers of Django's test client: NDJSON records, text, SSE events."""

from __future__ import annotations

import json
from typing import Any


def body_lines(response: Any) -> list[dict[str, Any]]:
    """Each line of an NDJSON stream, decoded (the trailer last)."""
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def text(response: Any) -> str:
    """A whole streamed answer as text."""
    return b"".join(response.streaming_content).decode()


def events_of(stream: str) -> list[tuple[str, int, dict]]:
    """(event, id, data) of each SSE event in ``stream``."""
    events = []
    for block in stream.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], int(fields["id"]), json.loads(fields["data"])))
    return events
