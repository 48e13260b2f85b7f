"""Reading streamed answers of Django's test client: NDJSON records, text, SSE events."""

from __future__ import annotations

import json
import zlib
from typing import Any

from backports.zstd import ZstdDecompressor
from django.core.signals import request_finished
from django.db import close_old_connections


def body_lines(response: Any) -> list[dict[str, Any]]:
    """Each line of an NDJSON stream, decoded (the trailer last)."""
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def status_of(url: str) -> int:
    """The status of a GET of ``url`` by the test client (a stream read to its end, which
    closes it)."""
    from django.test import Client

    response = Client().get(url)
    if response.streaming:
        b"".join(response.streaming_content)
    return response.status_code


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


def hang_up(response: Any) -> None:
    """Close a view's streamed answer mid-way, as a server does when its client goes: its
    stream ends there. (The end of the request leaves the test's database connection open,
    as the test client does for what it reads to the end. An answer of the test client
    closes itself a second time, after this has reconnected the signal: call the view.)"""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def decoder(encoding: str) -> Any:
    """A decoder of one gzip member or one zstd frame: what curl's ``--compressed`` and
    browsers make of a response's ``Content-Encoding``."""
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    return ZstdDecompressor()
