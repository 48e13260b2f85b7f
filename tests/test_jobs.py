"""Export jobs through Django's test client: create, run, status, events, log, download."""

from __future__ import annotations

import errno
import json
import tempfile
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from stream_exports.http import responses
from stream_exports.http.access import sign_url
from stream_exports.http.limits import StreamLimiter
from stream_exports.jobs import lifecycle, worker
from stream_exports.models import ExportJob, JobEvent, JobLogLine

IMMEDIATE = {
    "JOB_RUNNER": "stream_exports.jobs.runners.ImmediateRunner",
    "CHUNK_SIZE": 500,
    "COPY_FAST_PATH": False,  # the ORM path, where a failure can be injected
}
QUEUE_ONLY = {"JOB_RUNNER": "stream_exports.jobs.runners.WorkerRunner"}


pytestmark = pytest.mark.usefixtures("committed_jobs")


def start(world: dict[str, Any], params: dict[str, Any] | None = None, user: str = "staff"):
    """POST a signed job URL (the configured runner takes it from there)."""
    url = sign_url("/exports/orders/jobs", world["users"][user], params or {})
    return Client().post(url)


def run_started(world, settings, params=None, user="staff"):
    """Start a job and run it to its end before answering (ImmediateRunner)."""
    settings.STREAM_EXPORTS = IMMEDIATE
    response = start(world, params, user)
    settings.STREAM_EXPORTS = QUEUE_ONLY
    assert response.status_code == 202, response.content
    return response.json()


def get(path: str) -> Any:
    return Client().get(path)


def text(response: Any) -> str:
    return b"".join(response.streaming_content).decode()


def test_a_job_writes_the_same_ndjson_as_the_live_stream(world, settings, signed):
    params = {"paid": "true", "limit": 2345, "fields": "id,amount,note"}
    body = run_started(world, settings, params)
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.status, job.rows, job.total) == ("succeeded", 2345, 2345)
    download = get(body["links"]["download"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="orders-{job.pk}.ndjson"'
    live = b"".join(Client().get(signed(params)).streaming_content)
    assert b"".join(download.streaming_content) == live


def test_start_answers_202_with_location_and_signed_links(world, settings):
    response = start(world, {"limit": 10})
    body = response.json()
    assert response.status_code == 202
    assert response["Location"] == f"/exports/jobs/{body['id']}"
    assert body["status"] == "queued"
    assert set(body["links"]) == {"self", "events", "log", "download"}
    assert all("sig=" in link for link in body["links"].values())
    assert get(body["links"]["self"]).json()["id"] == body["id"]


def test_status_reports_counts_and_timestamps(world, settings):
    body = run_started(world, settings, {"limit": 10})
    status = get(body["links"]["self"]).json()
    assert status["status"] == "succeeded"
    assert (status["rows"], status["total"], status["error"]) == (10, 10, None)
    assert status["created_at"] <= status["started_at"] <= status["finished_at"]


def events_of(stream: str) -> list[tuple[str, int, dict]]:
    """(event, id, data) of each SSE event in ``stream``."""
    events = []
    for block in stream.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], int(fields["id"]), json.loads(fields["data"])))
    return events


def test_events_of_a_finished_job_end_with_one_done(world, settings):
    body = run_started(world, settings, {"limit": 3000})
    response = get(body["links"]["events"])
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
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


def test_a_failing_export_fails_the_job_with_its_reason(world, settings, fails_after_first_batch):
    body = run_started(world, settings, {"limit": 5000})
    status = get(body["links"]["self"]).json()
    assert status["status"] == "failed"
    assert "RuntimeError" in status["error"]
    assert "failed: 500 rows" in text(get(body["links"]["log"])).splitlines()[-1]
    download = get(body["links"]["download"])
    assert download.status_code == 409
    assert "is failed" in download.json()["error"]


def test_bad_job_parameters_are_400_before_a_job_exists(world):
    response = start(world, {"colour": "red"})
    assert response.status_code == 400
    assert response.json()["param"] == "colour"
    assert not ExportJob.objects.exists()


def test_unfinished_jobs_have_no_download(world):
    body = start(world, {"limit": 1}).json()
    response = get(body["links"]["download"])
    assert response.status_code == 409
    assert response.json()["error"] == f"job {body['id']} is queued; no file to download."


@pytest.mark.parametrize("route", ["job", "job-events", "job-log", "job-download"])
@pytest.mark.parametrize("who", ["staff_without_perm", "plain"])
def test_another_users_job_is_404_everywhere(world, route, who):
    job_id = start(world, {"limit": 1}).json()["id"]
    url = sign_url(reverse(f"stream_exports:{route}", args=[job_id]), world["users"][who])
    response = get(url)
    assert response.status_code == 404
    assert response.json() == {"error": f"no job {job_id} that you may see."}


def test_a_superuser_sees_every_job(world):
    job_id = start(world, {"limit": 1}).json()["id"]
    url = sign_url(reverse("stream_exports:job", args=[job_id]), world["users"]["superuser"])
    assert get(url).json()["id"] == job_id


def test_tampered_job_link_is_403(world):
    link = start(world, {"limit": 1}).json()["links"]["events"]
    assert get(link[:-2] + "xx").status_code == 403
    other = start(world, {"limit": 2}).json()["id"]
    query = link.split("?", 1)[1]
    for moved in (f"/exports/jobs/{other}/events?", link.split("/events")[0] + "/download?"):
        assert get(moved + query).json() == {"error": "signed URL was made for another path."}


def test_session_posts_need_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"]["staff"])
    refused = client.post("/exports/orders/jobs?limit=1")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    client.get("/admin/")  # a page with a form (logout) sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/exports/orders/jobs?limit=1", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 202


def test_cancel_stops_a_queued_job(world):
    body = start(world, {"limit": 1}).json()
    cancel = sign_url(
        reverse("stream_exports:job-cancel", args=[body["id"]]), world["users"]["staff"]
    )
    response = Client().post(cancel)
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    assert Client().post(cancel).status_code == 409
    assert events_of(text(get(body["links"]["events"])))[-1][0] == "done"


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


def test_events_and_log_lines_are_numbered_densely(world, settings):
    body = run_started(world, settings, {"limit": 1000})
    for model in (JobEvent, JobLogLine):
        seqs = list(model.objects.filter(job_id=body["id"]).values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))


REAL_TEMPORARY_FILE = tempfile.NamedTemporaryFile


class DiskFillsUp:
    """A temporary file that fills the disk after ``room`` bytes."""

    def __init__(self, room: int, **kwargs: Any) -> None:
        self.file = REAL_TEMPORARY_FILE(**kwargs)
        self.name, self.room = self.file.name, room

    def write(self, data: bytes) -> int:
        if self.file.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.file.write(data)

    def __enter__(self) -> DiskFillsUp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def test_a_full_disk_fails_the_job_and_serves_no_half_file(world, settings, monkeypatch):
    monkeypatch.setattr(
        worker.tempfile, "NamedTemporaryFile", lambda **kwargs: DiskFillsUp(100_000, **kwargs)
    )
    body = run_started(world, settings, {"limit": 5000})
    status = get(body["links"]["self"]).json()
    assert status["status"] == "failed"
    assert status["error"] == "could not write the export file: [Errno 28] No space left on device"
    assert "No space left on device" in text(get(body["links"]["log"])).splitlines()[-1]
    assert get(body["links"]["download"]).status_code == 409
    assert not ExportJob.objects.get(pk=body["id"]).file


def test_many_watchers_reaping_one_stale_job_fail_it_once(world):
    from concurrent.futures import ThreadPoolExecutor
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from stream_exports.core.datasets import registry
    from stream_exports.jobs.lifecycle import reap_if_stale

    job = lifecycle.create_job(registry.get("orders"), {}, world["users"]["staff"])
    long_ago = timezone.now() - timedelta(minutes=5)
    ExportJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=long_ago)

    def watcher(_: int) -> bool:
        try:
            return reap_if_stale(ExportJob.objects.get(pk=job.pk))
        finally:
            connection.close()

    with ThreadPoolExecutor(12) as pool:
        reaped = list(pool.map(watcher, range(12)))
    assert reaped.count(True) == 1
    failed = JobLogLine.objects.filter(job=job, message__contains="failed: ")
    assert failed.count() == 1
    assert JobEvent.objects.filter(job=job, kind="done").count() == 1
    assert ExportJob.objects.get(pk=job.pk).status == "failed"
