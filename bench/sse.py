"""SSE load: N job-status streams on one ASGI process with Redis, side by side.

Three contenders, each in a fresh server process, serve the streams of a job of
their own (the same export, started with ``manage.py start_export``): this
package's ``/exports/jobs/<id>/events`` with the Redis channel layer (served by
``JobStreams``, which the demo's ``project/asgi.py`` puts around Django's app), then
django-eventstream and sse-starlette fed the same events through Redis
(``bench.forward``: the same kinds, payloads and ids, as the worker writes them).
The job is queued (``WorkerRunner``) while the streams connect and sit through a
quiet phase that only heartbeats fill; then ``manage.py export_worker`` runs it in
a process of its own, so its progress reaches the server through Redis.

Each client is a bare asyncio protocol that only stamps and keeps what arrives
(``time.time()``), so a thousand of them cost the shared CPUs little while the
job runs; h11 decodes the HTTP afterwards. The SSE ``progress`` payload is the
job's status (counts, no time of writing), so a latency is an event's arrival
minus its ``JobEvent.at``, the time the worker wrote it (same machine, same clock).
A client closes its stream once it has the job's ``done`` (django-eventstream's
streams never end by themselves).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from importlib.metadata import version
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
BLOCK = re.compile(rb"((?:[^\r\n]+\r?\n)+)\r?\n")  # an SSE event: its lines, a blank line
DONE, BLANK_LINE = b"event: done", re.compile(rb"\n\r?\n")


@dataclass(frozen=True)
class Contender:
    """A way to serve a job's status as SSE: its server, how the job's events reach it."""

    key: str
    label: str
    server: str  # a kind in servers.COMMANDS
    forward: str = ""  # BENCH_FORWARD for its processes (bench.forward)
    path: str = ""  # its events URL, with {job}; "" is the job's signed events link


CONTENDERS = [
    Contender("ours", "stream_exports", "uvicorn"),
    Contender(
        "eventstream", "django-eventstream", "uvicorn", "eventstream",
        "/bench/eventstream/jobs/{job}/events/",
    ),
    Contender("starlette", "sse-starlette", "starlette", "redis", "/jobs/{job}/events"),
]  # fmt: skip


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
        self.tail = b""  # the end of what came, to find ``done`` across packets
        self.done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.packets.append((time.time(), data))
        if not self.done:
            self.close_after_done(data)

    def close_after_done(self, data: bytes) -> None:
        """Close the stream once the whole ``done`` event has come."""
        seen = self.tail + data
        at = seen.find(DONE)
        if at >= 0 and BLANK_LINE.search(seen, at):
            self.done = True
            assert self.transport is not None
            self.transport.close()
        self.tail = seen[at:] if at >= 0 else seen[-len(DONE) :]

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
    keepalives = []
    for match in BLOCK.finditer(body):
        fields: dict[bytes, bytes] = {}
        for line in match[1].splitlines():
            name, _, value = line.partition(b":")
            fields.setdefault(name, value.removeprefix(b" "))
        at = arrival(match.end())
        kind = fields.get(b"event", b"message").decode()
        if set(fields) == {b""} or kind == "keep-alive":  # comments only, or eventstream's
            keepalives.append(at)
        elif b"id" in fields:  # django-eventstream's ids are "<channel>:<n>"
            events.setdefault(int(fields[b"id"].rpartition(b":")[2]), (kind, at))
    return Received(status, events, keepalives)


async def connect(url: str, n: int) -> tuple[list[Stream], float]:
    """Open ``n`` streams to ``url``; wait until each has its first bytes. Seconds it took."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
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
    open_streams = sum(not s.closed.done() for s in streams)
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
        "open": open_streams,
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
        "held": min(len(ok), held["open"]),
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
        "cpu_per_delivery_ms": held["server_cpu_s"] * 1000 / max(len(latencies), 1),
    }


def start_job(url: str, username: str, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A queued job (``WorkerRunner`` leaves it to the worker): its id and signed links
    on ``url`` (``manage.py start_export``, with ``env``: its first event is forwarded)."""
    command = [sys.executable, str(ROOT / "manage.py"), "start_export", "orders"]
    command += ["--user", username, "--base-url", url]
    out = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return out[0], dict(line.split(None, 1) for line in out[1:])  # type: ignore[misc]


def warm_up(url: str) -> None:
    """One stream opened and dropped after its first bytes (sse-starlette sends none until
    its first ping: then after its headers), so set-ups that a server makes once (the
    channel layer's, a Redis subscription) are not counted per stream."""
    timeout = httpx.Timeout(60, read=5)
    with httpx.stream("GET", url, timeout=timeout) as response, suppress(httpx.ReadTimeout):
        next(response.iter_raw())


def serve_streams(contender: Contender, n: int, redis_url: str, context: Context) -> dict[str, Any]:
    """Hold ``n`` streams of a job on ``contender``'s server while the job runs; the figures."""
    limits = {"MAX_STREAMS": 2 * n + 10, "MAX_STREAMS_PER_USER": 2 * n + 10}
    settings = {
        **limits,
        "HEARTBEAT": HEARTBEAT,
        "JOB_RUNNER": "stream_exports.runners.WorkerRunner",
    }
    env = {
        **server_env(context.database_url),
        "REDIS_URL": redis_url,
        "STREAM_EXPORTS": json.dumps(settings),
        "SSE_PING": str(HEARTBEAT),  # sse-starlette's ping
        "BENCH_FORWARD": contender.forward,
    }
    print(f"SSE: {n} streams of {contender.label} on one {contender.server} process", flush=True)
    with serve(contender.server, env) as server:
        job_id, links = start_job(server.url, context.username, env)
        path = contender.path.format(job=job_id)
        url = (server.url + path) if path else links["events"]
        warm_up(url)
        held = asyncio.run(hold(url, n, server, env))
    shutil.rmtree(MEDIA, ignore_errors=True)  # the job's file
    result = {
        "key": contender.key,
        "label": contender.label,
        "version": version(contender.label),
        "server": contender.server,
    }
    result |= figures(held, written_events(job_id), n)
    print(f"    {result}", flush=True)
    return result


def sse_load(n: int, redis_url: str, context: Context) -> dict[str, Any]:
    """Each contender's figures under ``side_by_side``; this package's at the top level too."""
    results = [serve_streams(contender, n, redis_url, context) for contender in CONTENDERS]
    return {**results[0], "side_by_side": results}
