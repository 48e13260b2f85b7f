"""Streaming claims, checked against real gunicorn and uvicorn processes on loopback."""

from __future__ import annotations

import json
import time

import pytest
import requests

pytestmark = pytest.mark.servers


def timed_lines(url: str) -> tuple[list[bytes], list[float]]:
    """Every line of the response and when (seconds after the request) it arrived."""
    started = time.perf_counter()
    lines, times = [], []
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        assert "Content-Length" not in response.headers
        assert response.headers["Transfer-Encoding"] == "chunked"
        for line in response.iter_lines(chunk_size=65536):
            lines.append(line)
            times.append(time.perf_counter() - started)
    return lines, times


def test_first_line_arrives_long_before_the_last(server, signed, world):
    lines, times = timed_lines(server.url + signed())
    assert json.loads(lines[-1]) == {
        "_stream": {"status": "complete", "rows": world["rows"], "last": world["rows"]}
    }
    assert len(lines) == world["rows"] + 1
    # The first record reaches the client while the server is still producing:
    # well before the last one (a buffered response would deliver both together).
    assert times[0] < times[-1] / 5, (times[0], times[-1])


def test_server_memory_stays_flat_as_rows_grow(server, signed, world):
    def export(limit: int) -> int:
        lines, _ = timed_lines(server.url + signed({"limit": limit}))
        assert json.loads(lines[-1])["_stream"]["rows"] == limit
        return server.peak_rss()

    export(2_000)  # warm up: imports, connection, caches
    small = export(20_000)
    large = export(world["rows"])
    assert large - small < 30 * 2**20, f"peak RSS grew {(large - small) / 2**20:.1f} MiB"
