"""SSE load: N job-status streams on one uvicorn process with the Redis channel layer.

The job is queued (``WorkerRunner``) while the streams connect and sit through a
quiet phase that only heartbeats fill; then ``manage.py export_worker`` runs it in
a process of its own, so its progress reaches the server through Redis.

Each client is a bare asyncio protocol that only stamps and keeps what arrives
(``time.time()``), so a thousand of them cost the shared CPUs little while the
job runs; h11 decodes the HTTP afterwards. The SSE ``progress`` payload is the
job's status (counts, no time of writing), so a latency is an event's arrival
minus its ``JobEvent.at``, the time the worker wrote it (same machine, same clock).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
import numpy

from .contenders import MEDIA, Context
from .servers import OUT, ROOT, Server, run_process, serve, server_env

HEARTBEAT = float(os.environ.get("SSE_HEARTBEAT", 15.0))
QUIET = 2 * HEARTBEAT + 2.0
CONNECT_TIMEOUT = 180.0
DONE_TIMEOUT = 300.0
FRAME = re.compile(rb"event: (\w+)\nid: (\d+)\ndata: [^\n]*\n\n")
KEEPALIVE = re.compile(rb"^: keepalive\n\n", re.MULTILINE)


class Stream(asyncio.Protocol):
    """One SSE client: sends its request, then only stamps and keeps what arrives."""

    def __init__(self, host: str, target: str) -> None:
        self.http = h11.Connection(h11.CLIENT)
        headers = [("Host", host), ("Accept", "text/event-stream"), ("Connection", "close")]
        self.request = self.http.send(
            h11.Request(method="GET", target=target, headers=headers)
        ) + self.http.send(h11.EndOfMessage())  # type: ignore[operator]
        self.packets: list[tuple[float, bytes]] = []
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.packets.append((time.time(), data))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass
class Received:
    """What one stream got: its status, when each event and heartbeat arrived."""

    status: int | None
    events: dict[int, tuple[str, float]]  # id -> (kind, arrival)
    keepalives: list[float]


def received(stream: Stream) -> Received:
    """Decode a stream's packets (h11) and find its events and heartbeats, with arrival times."""
    body, ends, times, status = bytearray(), [], [], None
    for at, data in stream.packets:
        stream.http.receive_data(data)
        while (event := stream.http.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
                ends.append(len(body))
                times.append(at)

    def arrival(offset: int) -> float:
        return times[bisect.bisect_left(ends, offset)]

    events: dict[int, tuple[str, float]] = {}
    for match in FRAME.finditer(body):
        events.setdefault(int(match[2]), (match[1].decode(), arrival(match.end())))
    keepalives = [arrival(match.end()) for match in KEEPALIVE.finditer(body)]
    return Received(status, events, keepalives)


async def connect(url: str, n: int) -> tuple[list[Stream], float]:
    """Open ``n`` streams to ``url``; wait until each has its first bytes. Seconds it took."""
    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}"
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    streams = [Stream(parts.netloc, target) for _ in range(n)]
    await asyncio.gather(
        *(loop.create_connection(lambda s=s: s, parts.hostname, parts.port) for s in streams)
    )
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while not all(s.packets or s.closed.done() for s in streams):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    return streams, time.perf_counter() - started


def worker_command() -> list[str]:
    """``manage.py export_worker`` that runs the queued job, then stops."""
    # Niced, as the README advises for a worker beside the web server: the export
    # is batch work; the server's bursts of fan-out must not wait behind it.
    worker = [sys.executable, str(ROOT / "manage.py"), "export_worker", "--once"]
    return ["nice", "-n", "10", *worker, "--interval", "0.2"]


async def hold(url: str, n: int, server: Server, env: dict[str, str]) -> dict[str, Any]:
    """Connect, sit through the quiet phase, run the job in a worker, wait for every ``done``."""
    rss_before = server.rss_mb()
    streams, connect_s = await connect(url, n)
    quiet_from = time.time()
    await asyncio.sleep(QUIET)
    rss_held = server.rss_mb()
    job_from, server_cpu, client_cpu = time.time(), server.cpu_s(), time.process_time()
    with run_process(worker_command(), env, OUT / "worker.log") as worker:
        pending = [s.closed for s in streams if not s.closed.done()]
        await asyncio.wait(pending, timeout=DONE_TIMEOUT)
        job_s = time.time() - job_from
        server_cpu, client_cpu = server.cpu_s() - server_cpu, time.process_time() - client_cpu
        while worker.poll() is None:
            await asyncio.sleep(0.1)
    for stream in streams:
        if stream.transport is not None and not stream.closed.done():
            stream.transport.abort()
    return {
        "streams": streams,
        "connect_s": connect_s,
        "quiet": (quiet_from, job_from),
        "rss_before_mb": rss_before,
        "rss_held_mb": rss_held,
        "peak_rss_mb": server.peak_rss_mb(),
        "job_phase_s": job_s,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
    }


def written_events(job_id: str) -> dict[int, float]:
    """When the worker wrote each of the job's events (``JobEvent.at``), by id."""
    from stream_exports.models import JobEvent

    return {e.seq: e.at.timestamp() for e in JobEvent.objects.filter(job_id=job_id)}


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95 and max, in ms (zeros when there is nothing)."""
    if not values:
        return 0.0, 0.0, 0.0
    p50, p95, top = numpy.percentile(numpy.array(values) * 1000, [50, 95, 100])
    return float(p50), float(p95), float(top)


def figures(held: dict[str, Any], written: dict[int, float], n: int) -> dict[str, Any]:
    """Latency, fan-out spread, deliveries, heartbeats and memory from what the streams got."""
    quiet_from, job_from = held["quiet"]
    watched = {seq: at for seq, at in written.items() if at >= job_from}
    got = [received(s) for s in held["streams"]]
    ok = [g for g in got if g.status == 200]
    latencies = [
        g.events[seq][1] - at for g in ok for seq, at in watched.items() if seq in g.events
    ]
    first = {
        seq: min((g.events[seq][1] for g in ok if seq in g.events), default=0.0) for seq in watched
    }
    spread = [g.events[seq][1] - first[seq] for g in ok for seq in watched if seq in g.events]
    beats = [sum(quiet_from <= t < job_from for t in g.keepalives) for g in ok]
    p50, p95, top = percentiles(latencies)
    s50, s95, smax = percentiles(spread)
    return {
        "streams": n,
        "connected": len(ok),
        "refused": n - len(ok),
        "connect_s": held["connect_s"],
        "heartbeat_s": HEARTBEAT,
        "quiet_s": job_from - quiet_from,
        "keepalives_min": min(beats, default=0),
        "keepalives_median": float(numpy.median(beats)) if beats else 0.0,
        "events": len(watched),
        "delivered": len(latencies),
        "expected": len(ok) * len(watched),
        "done": sum(any(kind == "done" for kind, _ in g.events.values()) for g in ok),
        "p50_ms": p50,
        "p95_ms": p95,
        "max_ms": top,
        "spread_p50_ms": s50,
        "spread_p95_ms": s95,
        "spread_max_ms": smax,
        "rss_before_mb": held["rss_before_mb"],
        "rss_held_mb": held["rss_held_mb"],
        "peak_rss_mb": held["peak_rss_mb"],
        "rss_per_stream_kb": (held["rss_held_mb"] - held["rss_before_mb"]) * 1024 / max(len(ok), 1),
        "job_phase_s": held["job_phase_s"],
        "server_cpu_s": held["server_cpu_s"],
        "client_cpu_s": held["client_cpu_s"],
    }


def start_job(server: Server, context: Context) -> dict[str, Any]:
    """A queued job (``WorkerRunner`` leaves it to the worker); its signed links."""
    answer = httpx.post(server.url + context.sign("/exports/orders/jobs", {}), timeout=60)
    return answer.raise_for_status().json()


def warm_up(url: str) -> None:
    """One stream opened and dropped, so the channel layer's set-up is not counted per stream."""
    with httpx.stream("GET", url, timeout=60) as response:
        next(response.iter_raw())


def sse_load(n: int, redis_url: str, context: Context) -> dict[str, Any]:
    """Hold ``n`` job-status streams on one uvicorn process while a job runs; the figures."""
    limits = {"MAX_STREAMS": 2 * n + 10, "MAX_STREAMS_PER_USER": 2 * n + 10}
    settings = {
        **limits,
        "HEARTBEAT": HEARTBEAT,
        "JOB_RUNNER": "stream_exports.jobs.runners.WorkerRunner",
    }
    env = {
        **server_env(context.database_url),
        "REDIS_URL": redis_url,
        "STREAM_EXPORTS": json.dumps(settings),
    }
    print(f"SSE: {n} streams on one uvicorn process, Redis channel layer", flush=True)
    with serve("uvicorn", env) as server:
        job = start_job(server, context)
        url = server.url + job["links"]["events"]
        warm_up(url)
        held = asyncio.run(hold(url, n, server, env))
    shutil.rmtree(MEDIA, ignore_errors=True)  # the job's file
    result = figures(held, written_events(job["id"]), n)
    print(f"    {result}", flush=True)
    return result
