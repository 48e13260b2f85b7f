"""Real HTTP servers (gunicorn, uvicorn, daphne) started on loopback for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

COMMANDS = {
    "gunicorn": [
        str(BIN / "gunicorn"), "project.wsgi", "--workers", "1", "--worker-class", "gthread",
        "--threads", "300", "--bind", "127.0.0.1:{port}", "--timeout", "120",
    ],
    "uvicorn": [
        str(BIN / "uvicorn"), "project.asgi:application", "--host", "127.0.0.1",
        "--port", "{port}", "--no-access-log",
    ],
    "daphne": [
        str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "{port}", "project.asgi:application",
    ],
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the (already created) test database."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


@dataclass
class Server:
    kind: str
    url: str
    process: subprocess.Popen
    log: Path

    def worker(self) -> psutil.Process:
        """The process that runs the app (gunicorn's worker, else the server itself)."""
        proc = psutil.Process(self.process.pid)
        children = proc.children()
        return children[0] if self.kind == "gunicorn" and children else proc

    def peak_rss(self) -> int:
        """The worker's peak resident memory so far (VmHWM), in bytes."""
        for line in Path(f"/proc/{self.worker().pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM")


@contextmanager
def run_process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run ``command`` from the checkout with ``env`` (over os.environ) until the block ends."""
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env}
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=out, stderr=out)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def manage(*args: str) -> list[str]:
    """A ``manage.py`` command line with this interpreter."""
    return [sys.executable, str(ROOT / "manage.py"), *args]


@contextmanager
def run_server(kind: str, env: dict[str, str], tmp: Path) -> Iterator[Server]:
    """Start ``kind`` on a free loopback port with ``env``; stop it afterwards."""
    port = free_port()
    command = [part.format(port=port) for part in COMMANDS[kind]]
    log = tmp / f"{kind}-{port}.log"
    with run_process(command, env, log) as process:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{kind} exited: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield Server(kind, f"http://127.0.0.1:{port}", process, log)
