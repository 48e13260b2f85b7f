"""``python -m deploy local``: the app as Lambda Web Adapter starts it, behind a loopback
proxy that applies the streaming limits of API Gateway (REST, ``STREAM``) and Lambda.

What AWS documents, and the defaults here:

- Lambda response streaming: the first 6 MB leave uncapped, then at most 2 MB/s;
  at most 200 MB per response.
- API Gateway ``STREAM``: the first 10 MB at full speed, then at most 2 MB/s (so
  behind both, Lambda's 6 MB decides); no compression by the gateway.
- 15 minutes per request (and per invocation); a stream idle for 5 minutes is cut
  (REGIONAL; 30 s on EDGE).

What we assume (AWS does not say): a response cut by a limit ends as a broken
connection, without the chunked body's last chunk, so a client sees a truncated
body (``requests``: ``ChunkedEncodingError``), not a clean end. Bytes count as
they leave the function, so compression by the app moves every limit.

``--scale S`` divides every byte and time limit by ``S`` (the rate stays), so a
test sees in seconds what a user would see in minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000

#: Headers that belong to one connection, never forwarded (RFC 9110, 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

#: Headers of a client's that never reach the app: API Gateway's and the adapter's own.
REPLACED = HOP_BY_HOP | {
    "host",
    "x-forwarded-proto",
    "x-forwarded-for",
    "x-forwarded-port",
    "x-amzn-request-context",
    "x-amzn-lambda-context",
}

__all__ = [
    "Limits",
    "LimitsProxy",
    "adapter_env",
    "adapter_process",
    "add_arguments",
    "gateway_headers",
    "run",
]


@dataclass(frozen=True)
class Limits:
    """The walls one response meets (defaults: AWS's documented figures)."""

    burst_bytes: int = 6 * MB  # Lambda's uncapped start (the gateway's is 10 MB)
    rate: float = 2 * MB  # bytes per second after the burst
    max_bytes: int = 200 * MB  # Lambda's most per streamed response
    idle: float = 300.0  # seconds without a byte (REGIONAL; EDGE: 30)
    duration: float = 900.0  # seconds per request and per invocation

    def scaled(self, scale: float) -> Limits:
        """Every byte and time limit divided by ``scale``; the rate as it is."""
        return replace(
            self,
            burst_bytes=int(self.burst_bytes / scale),
            max_bytes=int(self.max_bytes / scale),
            idle=self.idle / scale,
            duration=self.duration / scale,
        )

    def earliest(self, sent: int) -> float:
        """Seconds after the response began before ``sent`` bytes may have left."""
        return max(0.0, (sent - self.burst_bytes) / self.rate)


class LimitExceeded(Exception):
    """The response met a wall: the connection is cut, as AWS would."""


#: The ``Host`` a client of the execute-api URL sends (``--host``); any API id works.
EXECUTE_API_HOST = "abcde12345.execute-api.us-east-1.amazonaws.com"


def request_context(stage: str, public_path: str, host: str, method: str) -> str:
    """The ``x-amzn-request-context`` Lambda Web Adapter passes for a REST API request:
    API Gateway's ``requestContext``, whose ``path`` is the path the client asked for."""
    return json.dumps(
        {
            "stage": stage or "prod",
            "path": public_path,
            "domainName": host,
            "apiId": host.split(".", 1)[0],
            "requestId": str(uuid.uuid4()),
            "httpMethod": method,
            "resourcePath": "/{proxy+}",
        }
    )


def gateway_headers(
    stage: str, public_path: str, host: str, method: str, client: str
) -> list[tuple[bytes, bytes]]:
    """What API Gateway (``Host``, ``X-Forwarded-*``) and the adapter (the request context)
    add to a request for ``public_path`` from ``client``."""
    context = request_context(stage, public_path, host, method)
    return [
        (b"host", host.encode()),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-for", client.encode()),
        (b"x-forwarded-port", b"443"),
        (b"x-amzn-request-context", context.encode()),
    ]


class LimitsProxy:
    """An ASGI app: each request forwarded to the app as API Gateway (REST) and Lambda Web
    Adapter do, its body paced and cut by ``limits``.

    ``stage``: the client's URLs have ``/<stage>`` first (the execute-api URL), which the
    app does not get (the event's ``path`` has no stage); ``None`` is a custom domain.
    ``host``: the ``Host`` the app sees (the gateway's; a client sends its own).
    """

    def __init__(
        self,
        upstream: str,
        limits: Limits,
        stage: str | None = None,
        host: str = EXECUTE_API_HOST,
    ) -> None:
        self.upstream = upstream
        self.limits = limits
        self.stage = stage
        self.host = host
        self.client = httpx.AsyncClient(base_url=upstream, timeout=None)

    def forwarded_path(self, public_path: str) -> str | None:
        """The path the adapter forwards for ``public_path``; ``None``: not under the stage."""
        if not self.stage:
            return public_path
        prefix = f"/{self.stage}"
        if public_path == prefix:
            return "/"
        if public_path.startswith(prefix + "/"):
            return public_path[len(prefix) :]
        return None

    def forwarded_headers(self, scope: dict[str, Any]) -> list[tuple[bytes, bytes]]:
        """The client's headers, less hop-by-hop ones and those the gateway (``Host``,
        ``X-Forwarded-*``) and the adapter (its ``x-amzn-`` contexts, which it sets over
        any a client sent) set, plus theirs."""
        headers = [(k, v) for k, v in scope["headers"] if k.decode().lower() not in REPLACED]
        client, _ = scope.get("client") or ("127.0.0.1", 0)
        path, method = scope["path"], scope["method"]
        return headers + gateway_headers(self.stage or "", path, self.host, method, client)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = self.forwarded_path(scope["path"])
        if path is None:  # API Gateway's answer to a path outside the stage
            await send_json(send, 403, {"message": "Forbidden"})
            return
        url = path + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        request = self.client.build_request(
            scope["method"], url, headers=self.forwarded_headers(scope), content=body
        )
        response = await self.client.send(request, stream=True)
        try:
            headers = [
                (k.encode(), v.encode())
                for k, v in response.headers.multi_items()
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
            ]
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            async for piece in self.paced(response.aiter_raw()):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def paced(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``chunks`` as the walls let them through; ``LimitExceeded`` at a wall."""
        limits, started, sent = self.limits, time.monotonic(), 0
        iterator = chunks.__aiter__()
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= limits.duration:
                raise LimitExceeded(f"the request ran {limits.duration:.0f} s")
            wait = min(limits.idle, limits.duration - elapsed)
            try:
                chunk = await asyncio.wait_for(iterator.__anext__(), wait)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise LimitExceeded(f"no byte for {wait:.0f} s") from None
            for piece in _pieces(chunk, 64 * 1024):
                if sent + len(piece) > limits.max_bytes:
                    yield piece[: limits.max_bytes - sent]
                    raise LimitExceeded(f"the response reached {limits.max_bytes} bytes")
                sent += len(piece)
                delay = started + limits.earliest(sent) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                yield piece


async def send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    """A whole JSON response, as the gateway answers by itself."""
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def adapter_env(port: int, task_root: Path, host: str = EXECUTE_API_HOST) -> dict[str, str]:
    """The environment Lambda gives ``run.sh`` under the adapter (response_stream mode);
    its ``python`` is this interpreter (on Lambda: the runtime's, with the package's deps).
    A ``host`` that is not an execute-api host is the app's custom domain."""
    region = host.split(".")[2] if ".execute-api." in host else "us-east-1"
    name = host.split(":", 1)[0]  # (a port, as a test's, is no part of a host name)
    domains = {} if ".execute-api." in host else {"DJANGO_CUSTOM_DOMAINS": name}
    return {
        **os.environ,
        "AWS_REGION": region,
        **domains,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_LWA_PORT": str(port),
        "AWS_LWA_INVOKE_MODE": "response_stream",
        "AWS_LWA_READINESS_CHECK_PATH": "/exports/health",
        "AWS_LAMBDA_FUNCTION_NAME": "local",
        "LAMBDA_TASK_ROOT": str(task_root),
    }


def wait_until_ready(base: str, process: subprocess.Popen, timeout: float, name: str) -> None:
    """Return once ``base`` answers its readiness path (``/exports/health``) with a 2xx;
    RuntimeError naming ``name`` if ``process`` exits first or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            if httpx.get(base + "/exports/health", timeout=1).is_success:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} was not ready within {timeout:.0f} s")
        time.sleep(0.05)


@contextmanager
def adapter_process(
    port: int, task_root: Path = ROOT, timeout: float = 30, host: str = EXECUTE_API_HOST
) -> Iterator[str]:
    """``deploy/run.sh`` started as the adapter does, ready when its readiness path answers."""
    command = ["sh", str(task_root / "deploy" / "run.sh")]
    env = adapter_env(port, task_root, host)
    process = subprocess.Popen(command, cwd=task_root, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process, timeout, "run.sh")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def add_arguments(local: argparse.ArgumentParser) -> None:
    """The options of ``python -m deploy local``: where to listen, and the limits."""
    defaults = Limits()
    local.add_argument("--port", type=int, default=9000, help="where the proxy listens")
    local.add_argument("--app-port", type=int, default=8080, help="AWS_LWA_PORT for run.sh")
    local.add_argument(
        "--stage",
        default=None,
        help="serve the execute-api URL's shape, /<stage>/... (default: a custom domain's)",
    )
    local.add_argument(
        "--host",
        default=None,
        help=f"the Host the app sees (default: {EXECUTE_API_HOST} with --stage, "
        "else exports.example.com, a custom domain)",
    )
    local.add_argument("--scale", type=float, default=1.0, help="divide byte and time limits by it")
    local.add_argument("--burst-mb", type=float, default=defaults.burst_bytes / MB)
    local.add_argument("--rate-mb", type=float, default=defaults.rate / MB, help="after the burst")
    local.add_argument("--max-mb", type=float, default=defaults.max_bytes / MB)
    local.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM), as the gateway")
    local.add_argument("--tls-key", help="the certificate's private key (PEM)")
    local.add_argument("--idle", type=float, default=defaults.idle, help="seconds (EDGE: 30)")
    local.add_argument("--duration", type=float, default=defaults.duration, help="seconds")


def limits_from(args: argparse.Namespace) -> Limits:
    """The limits the options ask for, scaled."""
    if args.scale <= 0:
        raise SystemExit("--scale must be positive")
    return Limits(
        burst_bytes=int(args.burst_mb * MB),
        rate=args.rate_mb * MB,
        max_bytes=int(args.max_mb * MB),
        idle=args.idle,
        duration=args.duration,
    ).scaled(args.scale)


def run(args: argparse.Namespace) -> int:
    """Start run.sh as the adapter would, then serve it through the limits until stopped."""
    limits = limits_from(args)
    host = args.host or (EXECUTE_API_HOST if args.stage else "exports.example.com")
    with adapter_process(args.app_port, host=host) as upstream:
        print(
            f"run.sh ready on {upstream}; through the limits on http://127.0.0.1:{args.port} "
            f"(first {limits.burst_bytes / MB:g} MB, then {limits.rate / MB:g} MB/s, "
            f"cut at {limits.max_bytes / MB:g} MB, after {limits.idle:g} s idle "
            f"or {limits.duration:g} s)",
            file=sys.stderr,
        )
        public = f"/{args.stage}" if args.stage else ""
        scheme = "https" if args.tls_cert else "http"
        print(
            f"https://{host}{public}/ is {scheme}://127.0.0.1:{args.port}{public}/", file=sys.stderr
        )
        proxy = LimitsProxy(upstream, limits, args.stage, host)
        # uvicorn hands a SIGTERM or SIGINT it caught back to the handler it found once it
        # has shut down: exit through Python there, so run.sh is stopped on the way out.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _exit)
        tls = {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key} if args.tls_cert else {}
        uvicorn.run(
            proxy,
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=5,  # streams still open then are cut, as at a redeploy
            **tls,
        )
    return 0


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)
