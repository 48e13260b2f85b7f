"""Running a job: the same NDJSON as the live stream, or a failure with its reason."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from django.test import Client

from stream_exports.jobs import files
from stream_exports.models import ExportJob

from ..job_api import get, run_started
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


class DiskFillsUp:
    """A file that fills the disk after ``room`` bytes."""

    def __init__(self, room: int, path: str, mode: str) -> None:
        self.file = open(path, mode)  # noqa: SIM115
        self.name, self.room = path, room

    def write(self, data: bytes) -> int:
        if self.file.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.file.write(data)

    def close(self) -> None:
        self.file.close()


def test_a_full_disk_fails_the_job_and_serves_no_half_file(world, settings, monkeypatch):
    # The job writes straight to storage (a .part file beside the final name): it fills up.
    monkeypatch.setattr(
        files, "open", lambda path, mode: DiskFillsUp(20_000, path, mode), raising=False
    )
    body = run_started(world, settings, {"limit": 5000})
    status = get(body["links"]["self"]).json()
    assert status["status"] == "failed"
    assert status["error"] == "could not write the export file: [Errno 28] No space left on device"
    assert "No space left on device" in text(get(body["links"]["log"])).splitlines()[-1]
    assert get(body["links"]["download"]).status_code == 409
    assert not ExportJob.objects.get(pk=body["id"]).file
    left = Path(settings.MEDIA_ROOT, "stream_exports")
    assert not left.exists() or not list(left.iterdir())  # no half file, whole-looking or not
