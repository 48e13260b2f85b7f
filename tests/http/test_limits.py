"""Stream caps: every stream counts, exports and job streams alike; over a cap, a 429 with
Retry-After."""

from __future__ import annotations

import pytest
from django.test import Client

from stream_exports.conf import conf
from stream_exports.http import responses
from stream_exports.http.limits import StreamLimiter

from ..job_api import QUEUE_ONLY, get, start

pytestmark = pytest.mark.usefixtures("committed_jobs")


def test_streams_over_the_per_user_cap_get_429(world, settings, monkeypatch):
    # A limiter of its own: streams other tests left open in this process count for nothing here.
    limiter = StreamLimiter()
    monkeypatch.setattr(responses, "limiter", limiter)
    settings.STREAM_EXPORTS = {**QUEUE_ONLY, "MAX_STREAMS_PER_USER": 1}
    open_before = limiter.total
    link = start(world, {"limit": 1}).json()["links"]["events"]
    first = get(link)  # open, not read: holds its place
    second = get(link)
    assert second.status_code == 429
    assert second["Retry-After"] == "5"
    assert "streams open" in second.json()["error"]
    first.close()
    assert get(link).status_code == 200
    assert limiter.total == open_before + 1  # (the last one, still open until closed)


@pytest.fixture
def limiter(monkeypatch) -> StreamLimiter:
    """A limiter of this test's own (streams other tests left open count for nothing)."""
    own = StreamLimiter()
    monkeypatch.setattr(responses, "limiter", own)
    return own


def test_exports_over_the_per_user_cap_get_429(signed, settings, limiter):
    settings.STREAM_EXPORTS = {"MAX_STREAMS_PER_USER": 1}
    first = Client().get(signed({"limit": 5}))  # open, not read: holds its place
    second = Client().get(signed({"limit": 5}))
    assert second.status_code == 429
    assert second["Retry-After"] == str(conf.BUSY_RETRY_AFTER)
    assert "you have 1 streams open" in second.json()["error"]
    other_user = Client().get(signed({"limit": 5}, user="superuser"))
    assert other_user.status_code == 200  # the cap is per user
    other_user.close()
    first.close()
    again = Client().get(signed({"limit": 5}))
    assert again.status_code == 200
    again.close()
    assert limiter.total == 0


def test_exports_over_the_servers_cap_get_429(signed, settings, limiter):
    settings.STREAM_EXPORTS = {"MAX_STREAMS": 1, "BUSY_RETRY_AFTER": 9}
    first = Client().get(signed({"limit": 5}))
    other_user = Client().get(signed({"limit": 5}, user="superuser"))
    assert other_user.status_code == 429
    assert other_user["Retry-After"] == "9"
    assert "too many streams open on this server (1)" in other_user.json()["error"]
    first.close()
    assert limiter.total == 0
