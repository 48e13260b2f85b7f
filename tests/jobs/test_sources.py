"""Job sources: a job reads the rows its source's kind names, or fails naming the kind."""

from __future__ import annotations

from typing import Any

import pytest

from stream_exports.core.datasets import registry
from stream_exports.jobs import sources
from stream_exports.jobs.lifecycle import create_job
from stream_exports.jobs.sources import register_source
from stream_exports.jobs.worker import run_job
from stream_exports.models import ExportJob, JobLogLine
from tests.testapp.models import Order

from ..job_api import downloaded_ids

pytestmark = pytest.mark.usefixtures("committed_jobs")


def run(world: dict[str, Any], source: dict[str, Any]) -> ExportJob:
    job = create_job(registry.get("orders"), {"fields": "id,note"}, world["users"]["staff"], source)
    run_job(job.pk)
    return ExportJob.objects.get(pk=job.pk)


def test_an_unknown_kind_fails_the_job_naming_the_kind(world):
    job = run(world, {"kind": "spreadsheet.tab", "description": "a tab"})
    assert job.status == "failed"
    assert "no source of kind 'spreadsheet.tab' is registered" in job.error
    assert "admin.changelist" in job.error  # what is registered (the admin's)
    last = JobLogLine.objects.filter(job=job).last()
    assert "failed: " in last.message and "'spreadsheet.tab'" in last.message


def test_a_registered_kind_gives_the_rows_as_the_jobs_owner_sees_them(world, monkeypatch):
    monkeypatch.setattr(sources, "_resolvers", dict(sources._resolvers))  # undone after
    asked = []

    def picked(source, user):
        asked.append((dict(source), user))
        return Order.objects.filter(pk__in=source["ids"])

    register_source("tests.picked", picked)
    source = {"kind": "tests.picked", "ids": [11, 3, 7], "description": "three orders"}
    job = run(world, source)
    assert (job.status, job.rows) == ("succeeded", 3)
    assert asked == [(source, world["users"]["staff"])]
    assert downloaded_ids(job) == [3, 7, 11]
    first = JobLogLine.objects.filter(job=job).first()
    assert "queued: orders export of three orders" in first.message
