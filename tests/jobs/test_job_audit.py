"""Job starts and downloads in the audit trail: a row as the job is started, ended when
the job ends (its rows and bytes written); a row per download."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from stream_exports.core.datasets import registry
from stream_exports.jobs.worker import run_job
from stream_exports.links.signing import sign_url
from stream_exports.models import ExportJob

from ..job_api import QUEUE_ONLY, get, run_started, start

pytestmark = pytest.mark.usefixtures("committed_jobs")


def test_a_job_start_is_open_until_the_job_ends_with_its_counts(world, settings, audited):
    settings.STREAM_EXPORTS = QUEUE_ONLY
    body = start(world, {"paid": "true", "limit": 40}).json()
    [row] = audited()
    assert (row.kind, str(row.job), row.via, row.outcome) == ("job", body["id"], "signed", "open")
    assert row.params == {"paid": "true", "limit": "40"}
    assert row.fields == list(registry.get("orders").fields)
    run_job(body["id"])
    [row] = audited()
    job = ExportJob.objects.get(pk=body["id"])
    assert (row.outcome, row.rows, row.bytes) == ("complete", 40, job.bytes)
    assert row.ended_at is not None


def test_a_cancelled_job_is_cut_and_a_failed_one_failed(
    world, settings, audited, fails_after_first_batch
):
    settings.STREAM_EXPORTS = QUEUE_ONLY
    queued = start(world, {"limit": 1}).json()
    cancel = reverse("stream_exports:job-cancel", args=[queued["id"]])
    assert Client().post(sign_url(cancel, world["users"]["staff"])).status_code == 202
    failed = run_started(world, settings, {"limit": 600})  # (run before the answer)
    rows = {str(row.job): row for row in audited(kind="job")}
    assert (rows[queued["id"]].outcome, rows[queued["id"]].rows) == ("cut", 0)
    assert (rows[failed["id"]].outcome, rows[failed["id"]].rows) == ("failed", 500)
    assert "RuntimeError" in rows[failed["id"]].reason


def test_downloads_are_audited_and_so_is_one_refused(world, settings, audited):
    done = run_started(world, settings, {"limit": 25})
    response = get(done["links"]["download"])
    body = b"".join(response.streaming_content)
    queued = start(world, {"limit": 1}).json()
    assert get(queued["links"]["download"]).status_code == 409
    [complete, refused] = audited(kind="download")
    assert (str(complete.job), complete.outcome, complete.rows) == (done["id"], "complete", 25)
    assert complete.bytes == len(body)
    assert complete.params == {"limit": "25"}
    assert (str(refused.job), refused.outcome, refused.status) == (queued["id"], "refused", 409)


def test_a_job_started_by_the_command_says_command(world, settings, audited):
    settings.STREAM_EXPORTS = QUEUE_ONLY
    call_command("start_export", "orders", "--user", "staff", "limit=3", stdout=StringIO())
    [row] = audited()
    assert (row.kind, row.via, row.client, row.username) == ("job", "command", None, "staff")
