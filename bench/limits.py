"""One export read whole by the client in identity, gzip and zstd: wall, first line,
the body's size as sent, resumes after cuts. Point it at a server, or at
``python -m deploy local``::

    python -m bench.limits 'http://127.0.0.1:9000/exports/orders.ndjson?sig=...'

``make bench`` does the latter (:func:`section`): the whole table through
``deploy local`` at AWS's real limits (Lambda: 6 MB, then 2 MB/s, 200 MB a
response; API Gateway: 15 minutes), read by the package's client, which resumes
a cut download with ``after=``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from stream_exports_client import Download

from deploy.local import wait_until_ready
from tests.servers import free_port

from .servers import OUT, ROOT


def read_whole(url: str, encoding: str, size: bool = True) -> dict[str, Any]:
    """Every record of ``url`` asking for ``encoding`` (resumed when cut); what it took."""
    session = requests.Session()
    session.headers["Accept-Encoding"] = encoding
    download = Download(url, session=session, backoff=0.1, retries=20)
    started, first, rows = time.perf_counter(), None, 0
    for _ in download.lines():
        if first is None:
            first = time.perf_counter() - started
        rows += 1
    return {
        "encoding": encoding,
        "rows": rows,
        "wall_s": time.perf_counter() - started,
        "first_line_ms": (first or 0.0) * 1000,
        "size_mb": download.bytes / 1e6
        if encoding == "identity"
        else (body_size(url, encoding) / 1e6 if size else None),
        "resumes": download.resumes,
    }


def body_size(url: str, encoding: str) -> int:
    """The bytes of one response in ``encoding``, as sent (not decoded)."""
    with requests.get(url, headers={"Accept-Encoding": encoding}, stream=True, timeout=60) as r:
        assert r.headers.get("Content-Encoding") == encoding, r.headers
        return sum(len(chunk) for chunk in r.raw.stream(1 << 20, decode_content=False))


@contextmanager
def deploy_local() -> Iterator[str]:
    """``python -m deploy local`` at the real limits, in this environment (the bench's
    settings and database); its base URL once the app answers through it."""
    port = free_port()
    command = [sys.executable, "-m", "deploy", "local", "--port", str(port)]
    command += ["--app-port", str(free_port())]
    log = OUT / "deploy-local.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(base, process, 60, "deploy local")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {log.read_text()[-2000:]}") from None
        yield base
    finally:
        process.terminate()
        process.wait(15)


def section(sign: Callable[[str, dict[str, str]], str]) -> list[dict[str, Any]]:
    """The whole bench table through ``deploy local`` at the real limits, in each encoding
    (the sizes as sent are in the compression table: not read twice here)."""
    found = []
    with deploy_local() as base:
        for encoding in ("identity", "gzip", "zstd"):
            url = base + sign("/exports/orders.ndjson", {})
            found.append(read_whole(url, encoding, size=False))
            print(f"through the limits, {encoding}: {found[-1]}", flush=True)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.limits", description=__doc__)
    parser.add_argument("url", help="a (signed) export URL")
    parser.add_argument("--encodings", default="identity,gzip,zstd")
    args = parser.parse_args(argv)
    print("| encoding | rows | wall | first line | body | resumes |")
    print("|---|---:|---:|---:|---:|---:|")
    for encoding in args.encodings.split(","):
        r = read_whole(args.url, encoding)
        print(
            f"| {r['encoding']} | {r['rows']:,} | {r['wall_s']:.1f} s "
            f"| {r['first_line_ms']:.0f} ms | {r['size_mb']:.1f} MB | {r['resumes']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
