"""Following a job: its SSE events and its plain-text log."""

from __future__ import annotations

import pytest
from django.test import Client

from ..job_api import get, run_started, start
from ..streams import events_of, text

pytestmark = pytest.mark.usefixtures("committed_jobs")


def test_events_of_a_finished_job_end_with_one_done(world, settings):
    body = run_started(world, settings, {"limit": 3000})
    response = get(body["links"]["events"])
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "private, no-cache, no-store"
    stream = text(response)
    assert stream.startswith("retry: 2000\nevent: progress\nid: 1\n")
    assert "\r" not in stream
    events = events_of(stream)
    assert [e[1] for e in events] == list(range(1, len(events) + 1))
    assert [e[0] for e in events] == ["progress"] * (len(events) - 1) + ["done"]
    assert events[-1][2]["status"] == "succeeded"
    rows = [e[2]["rows"] for e in events]
    assert rows == sorted(rows) and rows[-1] == 3000


def test_last_event_id_skips_what_the_client_has_seen(world, settings):
    body = run_started(world, settings, {"limit": 10})
    everything = events_of(text(get(body["links"]["events"])))
    response = Client().get(body["links"]["events"], HTTP_LAST_EVENT_ID="2")
    assert events_of(text(response)) == everything[2:]
    done_id = everything[-1][1]
    again = events_of(text(get(body["links"]["events"] + f"&lastEventId={done_id}")))
    assert again == everything[-1:]  # a finished job answers with its done event at once


def test_log_says_what_happened_and_ends_with_the_final_status(world, settings):
    body = run_started(world, settings, {"limit": 10, "paid": "true"})
    response = get(body["links"]["log"])
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    lines = text(response).splitlines()
    assert "queued: orders export with limit=10, paid=true" in lines[0]
    assert "running: 10 rows to write" in lines[1]
    assert "succeeded: 10 rows" in lines[-1]


def test_log_without_follow_answers_what_there_is_now(world):
    response = start(world, {"limit": 10})  # never run: stays queued
    lines = text(get(response.json()["links"]["log"] + "&follow=0")).splitlines()
    assert len(lines) == 1 and "queued" in lines[0]
