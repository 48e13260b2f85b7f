"""Real HTTP servers (gunicorn, uvicorn, daphne) serving the test project on loopback, the
job workers (export_worker, django-tasks-db's db_worker, Celery) beside them, and what
the tests do with jobs over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

COMMANDS = {
    "gunicorn": [
        str(BIN / "gunicorn"), "tests.wsgi", "--workers", "1", "--worker-class", "gthread",
        "--threads", "300", "--bind", "127.0.0.1:{port}", "--timeout", "120",
    ],
    "uvicorn": [
        str(BIN / "uvicorn"), "tests.asgi:application", "--host", "127.0.0.1",
        "--port", "{port}", "--no-access-log",
    ],
    "daphne": [
        str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "{port}", "tests.asgi:application",
    ],
}  # fmt: skip

#: What a server's environment adds: gunicorn's 300 threads share two malloc arenas, as
#: docs/serving.md advises (with one arena per thread its peak RSS moved by up to 9 MiB
#: between runs, whatever the rows: the flat-memory tests measure rows, not arenas).
ENVIRONMENTS = {"gunicorn": {"MALLOC_ARENA_MAX": "2"}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the (already created) test database."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    scheme, default_user, default_port = (
        ("mysql", "root", 3306)
        if settings_dict["ENGINE"].endswith("mysql")
        else ("postgres", "postgres", 5432)
    )
    user = settings_dict.get("USER") or default_user
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or default_port
    return f"{scheme}://{user}@{host}:{port}/{settings_dict['NAME']}"


@dataclass
class Server:
    kind: str
    url: str
    process: subprocess.Popen
    log: Path

    def worker(self) -> psutil.Process:
        """The process that runs the app (gunicorn's worker, else the server itself)."""
        return app_process(self.kind, self.process)

    def peak_rss(self) -> int:
        """The worker's peak resident memory so far (VmHWM), in bytes."""
        return peak_rss(self.worker())


def app_process(kind: str, process: subprocess.Popen) -> psutil.Process:
    """The process that serves requests: gunicorn's worker (the master's child), else itself."""
    server = psutil.Process(process.pid)
    children = server.children()
    return children[0] if kind == "gunicorn" and children else server


def peak_rss(process: psutil.Process) -> int:
    """``process``'s peak resident memory so far (``VmHWM``), in bytes."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM in /proc/{process.pid}/status")


@contextmanager
def run_process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run ``command`` from the checkout with ``env`` (over os.environ, whose settings
    module is kept: the tests', or the bench's) until the block ends."""
    full_env = {"DJANGO_SETTINGS_MODULE": "tests.settings", **os.environ, **env}
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
    """A management command line with this interpreter (``python -m django``): run it from
    ``ROOT`` with ``DJANGO_SETTINGS_MODULE`` set, as :func:`run_process` does."""
    return [sys.executable, "-m", "django", *args]


#: Job workers, and what each logs once it takes jobs. Celery's takes this run's own
#: queue (the settings' CELERY_TASK_DEFAULT_QUEUE has TEST_DB_SUFFIX in it) in one pool process.
WORKERS: dict[str, tuple[list[str], str]] = {
    "export_worker": (manage("export_worker", "--interval", "0.1"), "export worker started"),
    "db_worker": (
        manage("db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload"),
        "Starting worker",
    ),
    "celery": (
        [
            sys.executable, "-m", "celery", "-A", "tests", "worker", "--pool", "prefork",
            "--concurrency", "1", "--hostname", "{name}@%h", "--without-mingle", "--without-gossip",
            "--without-heartbeat", "--purge", "--loglevel", "INFO",
        ],
        " ready.",
    ),
}  # fmt: skip


@contextmanager
def run_worker(kind: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Start a ``kind`` job worker (``WORKERS``) with ``env``; once its ``log`` says it takes
    jobs, yield its process; stop it afterwards."""
    command, ready = WORKERS[kind]
    name = f"{kind}-{time.monotonic_ns()}"
    command = [part.format(name=name) for part in command]
    start = log.stat().st_size if log.exists() else 0
    with run_process(command, {**env, "PYTHONUNBUFFERED": "1"}, log) as process:
        deadline = time.monotonic() + 60
        while ready not in log.read_bytes()[start:].decode(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not start: {log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield process


def server_env(world: dict[str, Any], **stream_exports: Any) -> dict[str, str]:
    """The environment of a server or worker process on the test database."""
    from django.conf import settings

    return {
        "DATABASE_URL": world["db_url"],
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "STREAM_EXPORTS": json.dumps(stream_exports),
    }


#: What turns on a server's access log (one line per request, with its query string).
ACCESS_LOGS = {"gunicorn": ["--access-logfile", "-"], "uvicorn": [], "daphne": []}


def server_command(
    kind: str,
    port: int,
    *,
    app: str | None = None,
    access_log: bool = False,
    debug: bool = False,
    host: str = "127.0.0.1",
) -> list[str]:
    """The command line of ``kind`` on ``port``: the tests' project, or ``app`` (a WSGI or
    ASGI path such as ``project.asgi:application``); with ``access_log`` its access log on,
    with ``debug`` its own log at debug level; listening on ``host`` (loopback)."""
    command = [part.format(port=port).replace("127.0.0.1", host) for part in COMMANDS[kind]]
    if app is not None:
        command = [app if part.startswith("tests.") else part for part in command]
    if access_log:
        command = [part for part in command if part != "--no-access-log"] + ACCESS_LOGS[kind]
    if debug:
        command += ["--log-level", "debug"]
    return command


@contextmanager
def run_server(kind: str, env: dict[str, str], tmp: Path, **options: Any) -> Iterator[Server]:
    """Start ``kind`` on a free port with ``env`` (``options``: those of
    :func:`server_command`; ``host``: where it listens, loopback unless said); stop it
    afterwards."""
    host = options.get("host", "127.0.0.1")
    port = free_port()
    command = server_command(kind, port, **options)
    log = tmp / f"{kind}-{port}.log"
    with run_process(command, {**ENVIRONMENTS.get(kind, {}), **env}, log) as process:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{kind} exited: {log.read_text()[-2000:]}")
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield Server(kind, f"http://{host}:{port}", process, log)


@contextmanager
def as_the_adapter_starts_it(task_root: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run ``deploy/run.sh`` from ``task_root`` with Lambda Web Adapter's environment; wait
    for the readiness check as the adapter does; yield the base URL."""
    import requests

    port = free_port()
    env = {**env, "AWS_LWA_PORT": str(port), "LAMBDA_TASK_ROOT": str(task_root)}
    with run_process(["sh", str(task_root / "deploy" / "run.sh")], env, log):
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/exports/health", timeout=1).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not up, or slow to start
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"


def streamed_lines(url: str) -> tuple[list[bytes], list[float]]:
    """The lines of an export and when each arrived (seconds after the request)."""
    import requests

    started, arrivals, lines = time.perf_counter(), [], []
    with requests.get(url, stream=True, timeout=60) as response:
        assert response.status_code == 200, response.text
        assert "Content-Length" not in response.headers
        for line in response.iter_lines(chunk_size=65536):
            lines.append(line)
            arrivals.append(time.perf_counter() - started)
    return lines, arrivals


@dataclass
class Reply:
    """One canned HTTP answer; ``delay`` seconds pass before it is sent, all at once."""

    status: int
    body: bytes
    headers: dict[str, str] | None = None
    delay: float = 0.0


@contextmanager
def scripted_server(*replies: Reply) -> Iterator[tuple[str, list[str]]]:
    """A loopback server answering each request with the next reply (the last repeats);
    yields its base URL and the list of request paths it received."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            reply = replies[min(len(paths), len(replies)) - 1]
            time.sleep(reply.delay)
            self.send_response(reply.status)
            headers = {
                "Content-Type": "application/x-ndjson; charset=utf-8",
                **(reply.headers or {}),
            }
            headers["Content-Length"] = str(len(reply.body))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


def start_job(base: str, world: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Start a job as "staff" through ``base``'s jobs API (a signed POST); its 202 body."""
    import requests

    from stream_exports.links.signing import sign_url

    url = sign_url("/exports/orders/jobs", world["users"]["staff"], params)
    response = requests.post(base + url, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()


def sse_events(url: str, last_event_id: str | None = None, stop_after: int | None = None):
    """(event, id, data, arrival time) from an SSE client nobody here wrote (httpx-sse)."""
    import httpx
    from httpx_sse import connect_sse

    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    seen = []
    with (
        httpx.Client(timeout=60) as client,
        connect_sse(client, "GET", url, headers=headers) as source,
    ):
        assert source.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        for event in source.iter_sse():
            seen.append((event.event, int(event.id), json.loads(event.data), time.time()))
            if event.event == "done" or (stop_after and len(seen) >= stop_after):
                break
    return seen


def wait_for_status(url: str, predicate, timeout: float = 60) -> dict[str, Any]:
    """Poll a job's status URL until ``predicate(status)``; that status."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(url, timeout=30).json()
        if predicate(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"timed out; last status {status}")
