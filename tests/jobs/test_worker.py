"""Running a job: the same NDJSON as the live stream, or a failure with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from stream_exports.jobs.worker import run_job
from stream_exports.models import ExportJob

from ..job_api import QUEUE_ONLY, get, run_started, start
from ..streams import text

pytestmark = pytest.mark.usefixtures("committed_jobs")


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


def test_a_failing_export_fails_the_job_with_its_reason(world, settings, fails_after_first_batch):
    body = run_started(world, settings, {"limit": 5000})
    status = get(body["links"]["self"]).json()
    assert status["status"] == "failed"
    assert "RuntimeError" in status["error"]
    assert "failed: 500 rows" in text(get(body["links"]["log"])).splitlines()[-1]
    download = get(body["links"]["download"])
    assert download.status_code == 409
    assert "is failed" in download.json()["error"]


def test_a_full_disk_fails_the_job_and_serves_no_half_file(world, settings):
    # The job writes straight to storage, a .part file beside the final name: here that is
    # /dev/full, where every write fails as on a full disk (ENOSPC).
    settings.STREAM_EXPORTS = QUEUE_ONLY
    body = start(world, {"limit": 5000}).json()
    part = Path(settings.MEDIA_ROOT, "stream_exports", f"{body['id']}.ndjson.gz.part")
    part.parent.mkdir(parents=True, exist_ok=True)
    part.symlink_to("/dev/full")
    run_job(body["id"])
    status = get(body["links"]["self"]).json()
    assert status["status"] == "failed"
    assert status["error"] == (
        "could not write the export file (server error, OSError); the server log has the cause"
    )
    assert status["error"] in text(get(body["links"]["log"])).splitlines()[-1]
    assert get(body["links"]["download"]).status_code == 409
    assert not ExportJob.objects.get(pk=body["id"]).file
    left = Path(settings.MEDIA_ROOT, "stream_exports")
    assert not left.exists() or not list(left.iterdir())  # no half file, whole-looking or not


def test_a_queued_job_whose_owner_may_no_longer_export_fails_saying_so(exporter, settings):
    """Issue 25: a queued job did not check that its owner may still export when it starts."""
    from stream_exports.core.datasets import registry
    from stream_exports.jobs.lifecycle import create_job

    eve = exporter("eve")
    job = create_job(registry.get("orders"), {"limit": "3"}, eve)
    eve.user_permissions.clear()
    run_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows, job.file.name) == ("failed", 0, "")
    assert job.error == "its owner may no longer export dataset 'orders'."


def test_a_continued_job_whose_owner_was_deactivated_fails_saying_so(exporter, settings):
    """And at each continuation: a job run in slices checks again before its next one."""
    from stream_exports.core.datasets import registry
    from stream_exports.jobs.lifecycle import create_job

    eve = exporter("eve")
    job = create_job(registry.get("orders"), {"limit": "30"}, eve)
    ExportJob.objects.filter(pk=job.pk).update(checkpoint={"rows": 10, "last": 10, "bytes": 99})
    eve.is_active = False
    eve.save()
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "its owner may no longer export dataset 'orders'."


def test_the_owner_sees_a_summary_of_a_jobs_failure_and_the_log_has_the_details(
    world, settings, monkeypatch, caplog
):
    """Issue 25: a job's error text (paths, a storage's messages) reached its owner."""
    from stream_exports.jobs import worker

    def denied(job, saved):
        raise PermissionError(13, "Permission denied", "/srv/private/media/stream_exports/x.part")

    monkeypatch.setattr(worker, "open_job_file", denied)
    settings.STREAM_EXPORTS = QUEUE_ONLY
    body = start(world, {"limit": 5}).json()
    run_job(body["id"])
    status = get(body["links"]["self"]).json()
    assert status["error"] == (
        "could not write the export file (server error, PermissionError); "
        "the server log has the cause"
    )
    assert "/srv/private" not in text(get(body["links"]["log"]))
    assert "/srv/private/media" in caplog.text

    def broken(job):
        raise RuntimeError("could not connect: password=hunter2")

    monkeypatch.setattr(worker, "job_export", broken)
    body = start(world, {"limit": 5}).json()
    run_job(body["id"])
    status = get(body["links"]["self"]).json()
    assert status["error"] == (
        "the job failed (server error, RuntimeError); the server log has the cause"
    )
    assert "hunter2" not in text(get(body["links"]["log"])) and "hunter2" in caplog.text
