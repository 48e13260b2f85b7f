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
