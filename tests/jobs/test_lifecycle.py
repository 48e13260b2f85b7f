"""A job's lifecycle: densely numbered events and log lines, finished once."""

from __future__ import annotations

import pytest

from stream_exports.jobs import lifecycle
from stream_exports.models import ExportJob, JobEvent, JobLogLine

from ..job_api import run_started

pytestmark = pytest.mark.usefixtures("committed_jobs")


def test_events_and_log_lines_are_numbered_densely(world, settings):
    body = run_started(world, settings, {"limit": 1000})
    for model in (JobEvent, JobLogLine):
        seqs = list(model.objects.filter(job_id=body["id"]).values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))


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


def test_no_log_line_carries_a_raw_line_break_from_a_parameter(world, caplog):
    """Issue 25: a job's log line took a parameter with its CR/LF (int() takes "5\\r\\n")."""
    from stream_exports.core.datasets import registry
    from stream_exports.jobs.lifecycle import create_job
    from stream_exports.models import JobLogLine

    caplog.set_level("INFO", logger="stream_exports")
    job = create_job(
        registry.get("orders"), {"after": "5\r\n", "limit": "1"}, world["users"]["staff"]
    )
    logged = [
        record.getMessage() for record in caplog.records if str(job.pk) in record.getMessage()
    ]
    stored = list(JobLogLine.objects.filter(job=job).values_list("message", flat=True))
    assert logged and stored
    assert not any(
        set(line) & set("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029") for line in logged + stored
    )
