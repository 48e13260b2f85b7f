"""Hostile headers: no header sent to any endpoint makes it fail (5xx)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def finished_job(world, django_db_blocker):
    """A finished job of "staff" (committed), so that every job endpoint has something;
    the database stays open (autocommit) for the whole module."""
    from stream_exports.core.datasets import registry
    from stream_exports.jobs.lifecycle import create_job
    from stream_exports.jobs.worker import run_job
    from stream_exports.models import ExportJob

    with django_db_blocker.unblock():
        job = create_job(registry.get("orders"), {"limit": "5"}, world["users"]["staff"])
        run_job(job.pk)
        yield job
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
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.jobs.runners.WorkerRunner"}
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
