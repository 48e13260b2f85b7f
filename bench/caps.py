"""What the stream caps cost an export (issue 25): the same signed exports, one server at a
time, with the caps across processes on (a lease per stream in the database: an insert and
a count as it opens, a delete as it ends), with them off (``MAX_STREAMS`` and
``MAX_STREAMS_PER_USER`` 0), and on the commit before them (``--baseline``: a counter in
the process's memory)::

    python -m bench.caps                              # gunicorn and uvicorn, PostgreSQL
    python -m bench.caps --servers gunicorn --rounds 3 --requests 200

Each round starts a fresh server per target, in turn (the machine's noise falls on all
alike), and times, on the bench table (``ROWS`` demo orders, seeded as ``make bench``
does): ``--requests`` small exports (``limit=100``) one after another (latency: median,
p95; requests per second), the same from ``--clients`` threads at once, and one whole
export of every row. Figures are medians over rounds. Then, in this process (no server,
no client: what the leases alone cost a stream), ``--leases`` times a lease taken and
given back. Writes bench/out/caps.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.servers import free_port

from .coldstart import checkout_of
from .run import DATABASE_URL, prepare_database, signer
from .servers import OUT, ROOT, server_env, wait_ready

#: The commit before the caps held across processes (a counter per process).
BASELINE = "e3fb28a"
COMMANDS = {
    "gunicorn": [
        "-m", "gunicorn", "project.wsgi", "-k", "gthread", "--threads", "8", "-w", "1",
        "--bind", "127.0.0.1:{port}", "--timeout", "900",
    ],
    "uvicorn": [
        "-m", "uvicorn", "project.asgi:application", "--workers", "1", "--no-access-log",
        "--host", "127.0.0.1", "--port", "{port}",
    ],
}  # fmt: skip
OFF = {"MAX_STREAMS": 0, "MAX_STREAMS_PER_USER": 0}


@contextmanager
def serve(kind: str, tree: Path, env: dict[str, str]) -> Iterator[str]:
    """``kind`` serving the demo project of ``tree`` (this checkout or the baseline's) on
    the bench database; its base URL once it answers."""
    port = free_port()
    command = [sys.executable, *(part.format(port=port) for part in COMMANDS[kind])]
    log = OUT / f"caps-{kind}.log"
    full = {**os.environ, **env, "PYTHONPATH": str(tree)}
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=tree, env=full, stdout=out, stderr=out)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/exports/health", process, log)
        yield base
    finally:
        process.terminate()
        process.wait(15)


def read(client: httpx.Client, url: str) -> float:
    """Seconds to read the export at ``url`` to its complete trailer."""
    started = time.perf_counter()
    with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
        assert response.status_code == 200, response.read()[:300]
        last = b""
        for line in response.iter_lines():
            last = line.encode() if isinstance(line, str) else line
    assert b'"status":"complete"' in last, last[:300]
    return time.perf_counter() - started


def sequential(base: str, url: str, requests: int) -> dict[str, float]:
    """``requests`` small exports one after another on one connection."""
    with httpx.Client(base_url=base, timeout=120) as client:
        read(client, url)  # (warm: imports, the first connection)
        took = [read(client, url) for _ in range(requests)]
    return {
        "median_ms": statistics.median(took) * 1000,
        "p95_ms": statistics.quantiles(took, n=20)[-1] * 1000,
        "per_s": requests / sum(took),
    }


def concurrent(base: str, url: str, requests: int, clients: int) -> float:
    """Small exports per second from ``clients`` threads, ``requests`` each."""

    def one() -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            for _ in range(requests):
                read(client, url)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return clients * requests / (time.perf_counter() - started)


def whole(base: str, url: str) -> float:
    with httpx.Client(base_url=base, timeout=900) as client:
        return read(client, url)


def measure(
    targets: dict[str, tuple[Path, dict[str, Any]]],
    kind: str,
    sign: Callable[[str, dict[str, str]], str],
    args: argparse.Namespace,
) -> dict[str, dict[str, float]]:
    """Medians over rounds of each target's figures under ``kind``."""
    small = sign("/exports/orders.ndjson", {"limit": "100"})
    every = sign("/exports/orders.ndjson", {})
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for round_ in range(args.rounds):
        for name, (tree, settings) in targets.items():
            env = {**server_env(args.database_url), "STREAM_EXPORTS": json.dumps(settings)}
            with serve(kind, tree, env) as base:
                run = sequential(base, small, args.requests)
                run["concurrent_per_s"] = concurrent(base, small, args.requests, args.clients)
                run["whole_s"] = whole(base, every)
            runs[name].append(run)
            print(f"[{round_ + 1}/{args.rounds}] {kind} {name}: {run}", flush=True)
    return {
        name: {key: statistics.median(run[key] for run in found) for key in found[0]}
        for name, found in runs.items()
    }


def lease_cost(user_key: Any, times: int) -> dict[str, float]:
    """A stream's place under the caps, taken and given back ``times`` times on the bench
    database (an insert and a count, then a delete): milliseconds, median and p95."""
    from stream_exports.http.limits import StreamLimiter

    limiter, took = StreamLimiter(), []
    for _ in range(times):
        started = time.perf_counter()
        limiter.acquire(user_key)()
        took.append(time.perf_counter() - started)
    return {
        "median_ms": statistics.median(took) * 1000,
        "p95_ms": statistics.quantiles(took, n=20)[-1] * 1000,
    }


def table(results: dict[str, dict[str, dict[str, float]]], rows: int) -> str:
    lines = [
        f"| server | caps | small export: median | p95 | per s, 1 client | per s, clients "
        f"| {rows:,} rows |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for kind, targets in results.items():
        for name, r in targets.items():
            lines.append(
                f"| {kind} | {name} | {r['median_ms']:.1f} ms | {r['p95_ms']:.1f} ms "
                f"| {r['per_s']:.0f} | {r['concurrent_per_s']:.0f} | {r['whole_s']:.2f} s |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m bench.caps", description=__doc__)
    parser.add_argument("--rows", type=int, default=int(env("ROWS", 100_000)))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300, help="small exports per run")
    parser.add_argument("--clients", type=int, default=4, help="threads at once")
    parser.add_argument("--servers", default="gunicorn,uvicorn", help="'' measures leases only")
    parser.add_argument("--baseline", default=BASELINE, help="'' leaves it out")
    parser.add_argument("--database-url", default=env("BENCH_DATABASE_URL", DATABASE_URL))
    parser.add_argument("--leases", type=int, default=2000, help="leases timed in-process")
    args = parser.parse_args(argv)
    os.environ.update(server_env(args.database_url))
    os.environ.pop("REDIS_URL", None)
    user = prepare_database(args.database_url, args.rows)
    sign = signer(user)
    leases = lease_cost(user.pk, args.leases)
    print(f"a lease taken and given back: {leases}", flush=True)
    targets: dict[str, tuple[Path, dict[str, Any]]] = {
        "on (leases)": (ROOT, {}),
        "off": (ROOT, OFF),
    }
    if args.baseline:
        targets[f"per process ({args.baseline})"] = (checkout_of(args.baseline), {})
    kinds = [kind for kind in args.servers.split(",") if kind]
    results = {kind: measure(targets, kind, sign, args) for kind in kinds}
    OUT.mkdir(parents=True, exist_ok=True)
    found = {"rows": args.rows, "lease": leases, "results": results}
    (OUT / "caps.json").write_text(json.dumps(found, indent=1))
    print(table(results, args.rows))
    median, p95 = leases["median_ms"], leases["p95_ms"]
    print(f"a lease taken and given back: {median:.2f} ms (p95 {p95:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
