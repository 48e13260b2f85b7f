"""Stream caps: over them, a 429 with Retry-After."""

from __future__ import annotations

import pytest

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
