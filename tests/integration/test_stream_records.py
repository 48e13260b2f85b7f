"""Real servers (WSGI and ASGI) write one record per stream, however it ends."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from django.urls import reverse

from stream_exports.links.signing import sign_url

from ..servers import Server

pytestmark = pytest.mark.servers


def log_end(server: Server) -> int:
    """Where the server's log ends now: records before it are other tests'."""
    return server.log.stat().st_size


def records_of(server: Server, since: int, count: int, **match: Any) -> list[dict[str, Any]]:
    """The stream records written to the server's log after ``since`` that ``match``,
    once there are ``count`` (the server is shared by the session's tests)."""
    deadline = time.monotonic() + 20
    while True:
        with server.log.open("rb") as log:
            log.seek(since)
            lines = log.read().decode(errors="replace").splitlines()
        found = [json.loads(line) for line in lines if line.startswith('{"stream"')]
        found = [r for r in found if all(r.get(k) == v for k, v in match.items())]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_exports_complete_cut_and_refused_are_recorded(server, world, exporter):
    staff, cutter = world["users"]["staff"], exporter("cutter")  # (whose cut is this test's)
    since = log_end(server)
    path = reverse("stream_exports:ndjson", args=["orders"])
    with httpx.Client(base_url=server.url, timeout=60) as client:
        url = sign_url(path, staff, {"limit": 321, "fields": "id,amount"})
        with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as whole:
            wire = b"".join(whole.iter_raw())
            body = httpx.Response(200, headers=whole.headers, content=wire).content
        with client.stream("GET", sign_url(path, cutter, {})) as cut:
            next(cut.iter_raw())  # then hang up in the middle of 15 MB
        assert client.get(path + "?sig=forged").status_code == 403
    [complete] = records_of(server, since, 1, outcome="complete", rows=321)
    assert complete["encoding"] == "gzip"
    assert (complete["bytes"], complete["bytes_raw"]) == (len(wire), len(body))
    [gone] = records_of(server, since, 1, outcome="client_gone", user=cutter.pk)
    assert 0 < gone["rows"] < world["rows"]
    refused = records_of(server, since, 1, outcome="refused", status=403)
    assert refused and refused[-1]["stream"] == "export"
    assert "sig=" not in server.log.read_text(errors="replace")


def test_a_jobs_event_stream_and_log_are_recorded(server, world, committed_jobs):
    staff, since = world["users"]["staff"], log_end(server)
    start = sign_url(reverse("stream_exports:jobs", args=["orders"]), staff, {"paid": "true"})
    with httpx.Client(base_url=server.url, timeout=60) as client:
        job = client.post(start).json()
        with client.stream("GET", job["links"]["events"]) as events:
            body = b"".join(events.iter_raw())  # the stream ends after the "done" event
        assert b"event: done" in body
        log = client.get(job["links"]["log"] + "&follow=0").content
    [followed] = records_of(server, since, 1, stream="events", job=job["id"])
    assert followed["outcome"] == "complete"
    assert followed["bytes"] == len(body)
    assert followed["lines"] == body.count(b"\n")
    [logged] = records_of(server, since, 1, stream="log", job=job["id"])
    assert logged["bytes"] == len(log)
