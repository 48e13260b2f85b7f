"""Check a deployed export URL really streams: print when each chunk arrived; fail if
the body came in one burst at the end or without the trailer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests
from stream_exports_client.trailer import parse_trailer


@dataclass
class Arrivals:
    """When each chunk of a response body arrived, in seconds since the request."""

    chunks: list[tuple[float, int]] = field(default_factory=list)
    total: float = 0.0
    last_line: bytes = b""

    def problems(self) -> list[str]:
        """What makes this not a whole, streamed export (empty when it is)."""
        found = []
        if len(self.chunks) < 2 or self.chunks[0][0] > self.total / 2:
            found.append(
                "the body arrived in one burst at the end: the response was buffered "
                "(check that every route's integration is STREAM, and redeploy)"
            )
        trailer = parse_trailer(self.last_line)
        if trailer is None:
            found.append("no trailer: the body was cut or is not an NDJSON export")
        elif not trailer.complete:
            found.append(f"the trailer says {trailer.status!r}: {self.last_line.decode()}")
        return found


def fetch(url: str, session: Any = requests, timeout: float = 60) -> Arrivals:
    """GET ``url`` and time each chunk as it arrives."""
    arrivals, tail = Arrivals(), b""
    started = time.perf_counter()
    with session.get(url, stream=True, timeout=timeout) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=None):
            arrivals.chunks.append((time.perf_counter() - started, len(chunk)))
            tail = (tail + chunk)[-65536:]
    arrivals.total = time.perf_counter() - started
    arrivals.last_line = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return arrivals


def report(arrivals: Arrivals, out: TextIO) -> None:
    """Chunk arrival times (at most 20 lines), then the verdict's figures."""
    shown = arrivals.chunks if len(arrivals.chunks) <= 20 else arrivals.chunks[:10]
    for at, size in shown:
        print(f"{at * 1000:9.1f} ms  {size:8d} B", file=out)
    if len(arrivals.chunks) > 20:
        print(f"  ... {len(arrivals.chunks) - 20} more ...", file=out)
        for at, size in arrivals.chunks[-10:]:
            print(f"{at * 1000:9.1f} ms  {size:8d} B", file=out)
    size = sum(n for _, n in arrivals.chunks)
    first = arrivals.chunks[0][0] * 1000 if arrivals.chunks else float("nan")
    print(
        f"{len(arrivals.chunks)} chunks, {size} bytes, first after {first:.0f} ms, "
        f"all after {arrivals.total * 1000:.0f} ms",
        file=out,
    )
