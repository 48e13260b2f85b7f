"""Hostile input: whatever the query string, an export answers 200 or a 4xx naming the problem."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

NAMES = [
    "paid",
    "created_after",
    "created_before",
    "min_amount",
    "fields",
    "after",
    "limit",
    "trailer",
    "download",
    "colour",
    "",
    "sig",
]
VALUES = st.one_of(
    st.text(max_size=40),
    st.integers().map(str),
    st.sampled_from(["true", "false", "0", "1", "id,note", "id,,x", "2024-01-01T00:00:00Z", "-1"]),
    st.sampled_from([str(2**63), str(-(2**63) - 1), "1e400", "NaN", "\x00", "'; DROP TABLE x; --"]),
)
QUERIES = st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=10), VALUES), max_size=6)


def check(response) -> None:
    assert response.status_code in (200, 400, 403), response.status_code
    if response.status_code == 200:
        lines = b"".join(response.streaming_content).splitlines()
        if lines and b"_stream" in lines[-1]:
            assert json.loads(lines[-1])["_stream"]["status"] == "complete"
        return
    body = response.json()
    assert body["error"]
    if response.status_code == 400:
        assert body["error"].startswith(f"{body['param']}: ")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=QUERIES)
def test_no_query_string_makes_an_export_fail(staff_session, query):
    pairs = [(name, value) for name, value in query if name != "limit"] + [("limit", "3")]
    check(staff_session.get("/exports/orders.ndjson?" + urlencode(pairs)))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=QUERIES)
def test_no_query_string_makes_starting_a_job_fail(staff_session, query, settings):
    # (Jobs stay queued through the examples: no cap, which test_job_views tests.)
    settings.STREAM_EXPORTS = {
        "JOB_RUNNER": "stream_exports.runners.WorkerRunner",
        "MAX_JOBS": 0,
        "MAX_JOBS_PER_USER": 0,
    }
    response = staff_session.post("/exports/orders/jobs?" + urlencode(query))
    assert response.status_code in (202, 400, 403), response.status_code
    if response.status_code == 400:
        assert response.json()["error"].startswith(f"{response.json()['param']}: ")


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.text(min_size=1, max_size=30))
def test_no_path_under_exports_is_a_server_error(staff_session, path):
    response = staff_session.get("/exports/" + path.replace("\x00", ""))
    assert response.status_code < 500
