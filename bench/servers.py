"""Fresh server processes on loopback, and their memory."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

# The tests start and measure their servers the same way.
from tests.servers import app_process, free_port, peak_rss, run_process

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent

COMMANDS = {
    "gunicorn": [
        str(BIN / "gunicorn"), "project.wsgi", "-k", "gthread", "--threads", "4", "-w", "1",
        "--bind", "127.0.0.1:{port}", "--timeout", "900",
    ],
    "uvicorn": [
        str(BIN / "uvicorn"), "project.asgi:application", "--workers", "1", "--no-access-log",
        "--host", "127.0.0.1", "--port", "{port}",
    ],
    # The SSE load's sse-starlette contender: a Starlette app, no Django.
    "starlette": [
        str(BIN / "uvicorn"), "bench.starlette_app:app", "--workers", "1", "--no-access-log",
        "--host", "127.0.0.1", "--port", "{port}",
    ],
}  # fmt: skip
#: Where a server answers once its app is loaded (else ``/exports/health``).
HEALTH = {"starlette": "/health"}


def server_env(database_url: str) -> dict[str, str]:
    """The environment of every Django process here: bench settings on the bench database."""
    return {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
        "DJANGO_DEBUG": "0",
        "MEDIA_ROOT": str(OUT / "media"),
        "STREAM_EXPORTS": "{}",
        "PYTHONPATH": str(ROOT),
    }


@dataclass
class Server:
    """A running server: its base URL and the process that runs the app."""

    kind: str
    url: str
    worker: psutil.Process

    def peak_rss_mb(self) -> float:
        """The worker's peak resident memory so far (``VmHWM``), in MB."""
        return peak_rss(self.worker) / 2**20

    def rss_mb(self) -> float:
        """The worker's resident memory now, in MB."""
        return self.worker.memory_info().rss / 2**20

    def cpu_s(self) -> float:
        """The worker's CPU time so far (user and system), in seconds."""
        times = self.worker.cpu_times()
        return times.user + times.system


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    """Until ``url`` answers (gunicorn opens its port before its worker has loaded Django)."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=30).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)


@contextmanager
def serve(kind: str, env: dict[str, str]) -> Iterator[Server]:
    """A fresh ``kind`` server (gunicorn, uvicorn, starlette) on a free loopback port."""
    port = free_port()
    command = [part.format(port=port) for part in COMMANDS[kind]]
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"{kind}.log"
    with run_process(command, env, log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url + HEALTH.get(kind, "/exports/health"), process, log)
        yield Server(kind, url, app_process(kind, process))
