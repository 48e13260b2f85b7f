"""The Python client against a real server, through a proxy that cuts connections."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from stream_exports_client import (
    Download,
    ExportFailed,
    Refused,
    Timeouts,
    follow_job,
    iter_records,
    tail_log,
)
from stream_exports_client.download import with_params

from stream_exports.links.signing import sign_url

from ..servers import Reply, scripted_server
from ..sessions import end_session, export_sessions

pytestmark = pytest.mark.servers


class CuttingProxy:
    """A loopback TCP proxy that drops each of its first ``cuts`` connections at a random byte."""

    def __init__(
        self,
        target_port: int,
        cuts: int,
        seed: int = 0,
        within: tuple[int, int] = (2_000, 3_000_000),
    ) -> None:
        self.target = ("127.0.0.1", target_port)
        self.cuts, self.rng, self.within = cuts, random.Random(seed), within
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_at: list[int] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            limit = None
            if len(self.cut_at) < self.cuts:
                limit = self.rng.randrange(*self.within)
                self.cut_at.append(limit)
            threading.Thread(target=self._pipe, args=(client, limit), daemon=True).start()

    def _pipe(self, client: socket.socket, limit: int | None) -> None:
        upstream = socket.create_connection(self.target)
        threading.Thread(target=self._copy, args=(client, upstream, None), daemon=True).start()
        self._copy(upstream, client, limit)

    @staticmethod
    def _copy(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[: limit - sent])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.listener.close()


def client_command(*args: str) -> subprocess.CompletedProcess:
    """``python -m stream_exports_client ARGS``, as a shell script would run it."""
    command = [sys.executable, "-m", "stream_exports_client", *args]
    return subprocess.run(command, capture_output=True, timeout=120)


@pytest.fixture
def proxy(server) -> Iterator[CuttingProxy]:
    # Cuts within the first 50 KB of each connection: exports come compressed (requests
    # accepts gzip and zstd), about 0.2 MB on the wire for the 1.8 MB of ids and notes.
    cutting = CuttingProxy(
        int(server.url.rsplit(":", 1)[1]), cuts=3, seed=len(server.kind), within=(2_000, 50_000)
    )
    yield cutting
    cutting.close()


def test_every_row_exactly_once_through_three_cuts(server, proxy, world):
    url = f"http://127.0.0.1:{proxy.port}" + sign_url(
        "/exports/orders.ndjson", world["users"]["staff"], {"fields": "id,note"}
    )
    download = Download(url, backoff=0.01)
    ids = [record["id"] for _, record in download.lines()]
    assert len(proxy.cut_at) == 3
    assert download.resumes == 3
    assert ids == list(range(1, world["rows"] + 1))


def test_a_refusal_raises_with_the_servers_message(server, world):
    url = server.url + sign_url("/exports/orders.ndjson", world["users"]["plain"], {})
    with pytest.raises(Refused, match=r"HTTP 404: no dataset 'orders' that you may export"):
        list(iter_records(url))


def test_with_params_replaces_after_and_keeps_the_signature():
    url = with_params("http://h/exports/o.ndjson?limit=5&sig=a%3Ab&after=3", after=10)
    assert url == "http://h/exports/o.ndjson?limit=5&sig=a%3Ab&after=10"


def test_the_command_downloads_through_cuts_to_a_file(server, proxy, world, tmp_path: Path):
    url = f"http://127.0.0.1:{proxy.port}" + sign_url(
        "/exports/orders.ndjson", world["users"]["staff"], {"limit": 20_000}
    )
    out = tmp_path / "orders.ndjson"
    done = client_command("download", url, "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr
    lines = out.read_bytes().splitlines()
    assert [int(line.split(b",", 1)[0].removeprefix(b'{"id":')) for line in lines] == list(
        range(1, 20_001)
    )


def test_the_command_exits_4_on_a_refusal(server, world):
    url = server.url + sign_url("/exports/orders.ndjson", world["users"]["plain"], {})
    done = client_command("download", url, "-q")
    assert done.returncode == 4
    assert b"refused: HTTP 404" in done.stderr  # (as for an unknown dataset)


def test_follow_job_and_tail_log_through_cuts(server, world):
    base = server.url
    job = requests.post(
        base + sign_url("/exports/orders/jobs", world["users"]["staff"], {}), timeout=30
    ).json()
    proxy = CuttingProxy(int(base.rsplit(":", 1)[1]), cuts=2, seed=3, within=(400, 1500))
    try:
        via = f"http://127.0.0.1:{proxy.port}"
        events = list(follow_job(via + job["links"]["events"], backoff=0.05))
        lines = list(tail_log(via + job["links"]["log"], backoff=0.05))
    finally:
        proxy.close()
    ids = [int(event.id) for event in events]
    assert ids == list(range(1, len(ids) + 1))
    assert events[-1].event == "done" and events[-1].data["status"] == "succeeded"
    assert "queued" in lines[0] and "succeeded" in lines[-1]
    assert len(lines) == len(set(lines))
    assert len(proxy.cut_at) == 2


def test_the_start_command_runs_a_job_and_downloads_it(server, world, tmp_path: Path):
    url = server.url + sign_url("/exports/orders/jobs", world["users"]["staff"], {"limit": 1000})
    out = tmp_path / "job.ndjson"
    done = client_command("start", url, "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert len(out.read_bytes().splitlines()) == 1000


def test_a_dropped_database_connection_is_resumed_and_every_row_comes_once(
    server, world, sessions_seen
):
    url = server.url + sign_url("/exports/orders.ndjson", world["users"]["staff"], {})
    download = Download(url, timeouts=Timeouts(between_lines=30))
    ids = []
    for _, record in download.lines():
        ids.append(record["id"])
        if len(ids) == 1:
            (session, _), *_ = export_sessions(server.worker(), world["db_url"])
            end_session(world["db_url"], session)  # pg_terminate_backend; KILL on MariaDB
    assert ids == list(range(1, world["rows"] + 1))
    assert download.resumes == 1


def lines(*records: dict) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def test_an_error_trailer_that_is_not_transient_raises():
    trailer = {"status": "error", "error": "export failed (server error)", "retry": False}
    body = lines({"id": 1}, {"_stream": {**trailer, "rows": 1, "last": 1}})
    with (
        scripted_server(Reply(200, body)) as (base, paths),
        pytest.raises(ExportFailed, match="server error"),
    ):
        list(iter_records(f"{base}/exports/orders.ndjson", backoff=0))
    assert len(paths) == 1


def test_a_transient_error_trailer_and_a_503_are_retried_from_the_last_row():
    database_gone = {"status": "error", "error": "database error", "retry": True}
    replies = (
        Reply(
            200, lines({"id": 1}, {"id": 2}, {"_stream": {**database_gone, "rows": 2, "last": 2}})
        ),
        Reply(503, b'{"error": "the database is unavailable"}', {"Retry-After": "2"}),
        Reply(200, lines({"id": 3}, {"_stream": {"status": "complete", "rows": 1, "last": 3}})),
    )
    with scripted_server(*replies) as (base, paths):
        download = Download(f"{base}/exports/orders.ndjson?sig=s", backoff=0)
        assert [record["id"] for _, record in download.lines()] == [1, 2, 3]
    assert paths == [
        "/exports/orders.ndjson?sig=s",
        "/exports/orders.ndjson?sig=s&after=2",
        "/exports/orders.ndjson?sig=s&after=2",
    ]
    assert download.resumes == 2


def test_a_refusal_that_is_not_transient_is_not_retried():
    with (
        scripted_server(Reply(403, b'{"error": "signature expired"}')) as (base, paths),
        pytest.raises(Refused, match="HTTP 403: signature expired"),
    ):
        list(iter_records(f"{base}/x.ndjson", backoff=0))
    assert len(paths) == 1
