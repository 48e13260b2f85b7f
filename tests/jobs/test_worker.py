"""Running a job: the same NDJSON as the live stream, or a failure with its reason."""

from __future__ import annotations

import errno
import tempfile
from typing import Any

import pytest
from django.test import Client

from stream_exports.jobs import worker
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
