"""Hostile headers: no header sent to any endpoint makes it fail (5xx), through Django's test
client and as raw bytes to real servers."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def finished_job(world, django_db_blocker):
    """A finished job of "staff" (committed), so that every job endpoint has something;
    the database stays open (autocommit) for the whole module."""
    from stream_exports.core.datasets import registry
    from stream_exports.jobs.lifecycle import create_job
    from stream_exports.jobs.models import UNFINISHED
    from stream_exports.jobs.worker import run_job
    from stream_exports.models import ExportJob

    with django_db_blocker.unblock():
        job = create_job(registry.get("orders"), {"limit": "5"}, world["users"]["staff"])
        run_job(job.pk)
        yield job
        deadline = time.monotonic() + 60  # (the job a real server started ends first)
        started = ExportJob.objects.filter(link_digest__isnull=False, status__in=UNFINISHED)
        while started.exists():
            assert time.monotonic() < deadline, "a started job did not end"
            time.sleep(0.1)
        ExportJob.objects.all().delete()


ENDPOINTS = [
    ("GET", "/exports/"),
    ("GET", "/exports/health"),
    ("GET", "/exports/orders.ndjson?limit=3"),
    ("POST", "/exports/orders/jobs?limit=3"),
    ("GET", "/exports/jobs/{id}"),
    ("GET", "/exports/jobs/{id}/events"),
    ("GET", "/exports/jobs/{id}/log?follow=1"),
    ("GET", "/exports/jobs/{id}/download"),
    ("POST", "/exports/jobs/{id}/cancel"),
    ("POST", "/events"),
    ("GET", "/admin/stream_exports/exportjob/{id}/change/"),
]
HEADER_NAMES = [
    "Accept",
    "Accept-Encoding",
    "Last-Event-ID",
    "Range",
    "If-None-Match",
    "If-Modified-Since",
    "Content-Type",
    "Cookie",
    "Authorization",
    "X-CSRFToken",
    "Origin",
    "Referer",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Requested-With",
    "x-amzn-request-context",
    "Host",
]
HEADER_VALUES = st.one_of(
    st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=60),
    st.integers().map(str),
    st.sampled_from(["*/*", "text/event-stream", "gzip, br", "bytes=0-10", "null", "-1", "{}"]),
    st.sampled_from(["sessionid=x; csrftoken=y", "Basic Zm9vOmJhcg==", "9" * 400, "ü∂€"]),
)
# As a WSGI server hands them over (PEP 3333): the bytes sent (UTF-8), read as Latin-1.
HEADERS = st.dictionaries(
    st.sampled_from(HEADER_NAMES),
    HEADER_VALUES.map(lambda value: value.encode().decode("latin-1")),
    max_size=5,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(endpoint=st.sampled_from(ENDPOINTS), headers=HEADERS, body=st.binary(max_size=40))
def test_no_headers_make_any_endpoint_fail(
    staff_session, finished_job, settings, endpoint, headers, body
):
    # Autocommit (no test transaction): followers close their connection after each poll.
    # Started jobs stay queued (no thread outlives the test).
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    method, path = endpoint
    path = path.format(id=finished_job.pk)
    extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    content_type = headers.get("Content-Type", "application/octet-stream")
    if method == "GET":
        response = staff_session.get(path, headers=extra)
    else:
        response = staff_session.post(path, body, content_type=content_type, headers=extra)
    try:
        assert response.status_code < 500, (endpoint, headers, response.status_code)
        # Every refusal of ours is JSON naming the problem (the admin's and a bad
        # Host's are Django's own).
        ours = not path.startswith("/admin/") and "Host" not in headers
        if response.status_code >= 400 and ours:
            assert response.json()["error"]
        if response.streaming:
            for _ in zip(range(3), response.streaming_content, strict=False):
                pass
    finally:
        response.close()


#: Header values as bytes on the wire: anything but CR and LF (which end a header line),
#: so Latin-1 and bytes that are no UTF-8, as well as UTF-8.
RAW_VALUES = st.one_of(
    st.binary(max_size=60).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"")),
    HEADER_VALUES.map(str.encode),
    st.sampled_from([b"\xb2", b"9" * 5000, b"\xff\xfe\xfd", b"caf\xe9", b"\xc3\x28", b"[" * 4000]),
)
RAW_HEADERS = st.dictionaries(st.sampled_from(HEADER_NAMES), RAW_VALUES, max_size=5)


@pytest.fixture(scope="module")
def signed_endpoints(world: Any, finished_job: Any) -> list[tuple[str, str]]:
    """``ENDPOINTS`` as signed URLs of "staff" (a server has no test session), made once:
    the job start, posted again, answers with the one job it started."""
    job = finished_job
    from stream_exports.links.signing import sign_url

    signed = []
    for method, path in ENDPOINTS:
        path = path.format(id=job.pk)
        if path.startswith("/exports/") and path != "/exports/health":
            route, _, query = path.partition("?")
            params = dict(pair.split("=") for pair in query.split("&")) if query else {}
            path = sign_url(route, world["users"]["staff"], params)
        signed.append((method, path))
    return signed


def raw_status(base: str, method: str, path: str, headers: dict[str, bytes], body: bytes) -> int:
    """The status a server answers ``method path`` sent with exactly these header bytes."""
    host, port = urlsplit(base).netloc.split(":")
    lines = [f"{method} {path} HTTP/1.1".encode()]
    if "Host" not in headers:
        lines.append(f"Host: {host}:{port}".encode())
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"\r\n".join([*lines, b"", b""]) + body)
        status_line = sock.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    return int(status_line.split()[1])


@pytest.mark.servers
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(index=st.integers(0, len(ENDPOINTS) - 1), headers=RAW_HEADERS, body=st.binary(max_size=40))
def test_no_header_bytes_make_a_real_server_fail(server, signed_endpoints, index, headers, body):
    """gunicorn and uvicorn hand Django header bytes as Latin-1 (PEP 3333, ASGI): whatever
    bytes a client sends, the answer is the server's own 400 or ours, never a 5xx."""
    method, path = signed_endpoints[index]
    status = raw_status(server.url, method, path, headers, body)
    assert status < 500, (method, path, headers, status)
