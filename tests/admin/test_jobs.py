"""The admin's export job pages: only the owner's jobs; cancel and run again."""

from __future__ import annotations

import pytest

from stream_exports.models import ExportJob

from ..job_api import IMMEDIATE, run_started
from ..jobs.test_partitions import file_of
from .changelist import client_for, export, rows_of_csv


def test_job_list_and_pages_show_only_the_owners_jobs(world):
    client = client_for(world, "staff")
    export(client, "paid__exact=1", mode="background")
    job = ExportJob.objects.get()
    page = f"/admin/stream_exports/exportjob/{job.pk}/change/"
    assert str(job.pk)[:8] in client.get("/admin/stream_exports/exportjob/").content.decode()
    stranger = client_for(world, "staff_without_perm")
    assert str(job.pk)[:8] not in stranger.get("/admin/stream_exports/exportjob/").content.decode()
    assert stranger.get(page).status_code == 404
    assert client_for(world, "superuser").get(page).status_code == 200


def test_cancel_and_run_again_from_the_job_page_keeping_its_format_and_options(world, settings):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    client = client_for(world, "staff")
    export(client, "paid__exact=0", format="csv", fields=["id", "amount"], mode="background")
    job = ExportJob.objects.get()
    assert client.post(f"/admin/stream_exports/exportjob/{job.pk}/cancel/").status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"
    response = client.post(f"/admin/stream_exports/exportjob/{job.pk}/rerun/")
    again = ExportJob.objects.exclude(pk=job.pk).get()
    assert response["Location"] == f"/admin/stream_exports/exportjob/{again.pk}/change/"
    assert (again.source, again.status) == (job.source, "queued")
    assert (again.format, again.params, again.notify) == ("csv", job.params, job.notify)
    assert again.params["fields"] == "id,amount"
    page = client.get(response["Location"]).content.decode()
    assert ">Download CSV</a>" in page
    assert client.get(f"/admin/stream_exports/exportjob/{job.pk}/cancel/").status_code == 405


def test_run_again_keeps_the_format_and_whether_to_mail_and_takes_this_requests_site(
    world, settings
):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    client = client_for(world, "staff")
    export(client, "paid__exact=0", format="csv", mode="background")
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(notify=False, site="https://old.example.com/")
    client.post(f"/admin/stream_exports/exportjob/{job.pk}/cancel/")
    client.post(f"/admin/stream_exports/exportjob/{job.pk}/rerun/", HTTP_HOST="localhost")
    again = ExportJob.objects.exclude(pk=job.pk).get()
    assert (again.format, again.notify, again.site) == ("csv", False, "http://localhost/")


@pytest.mark.usefixtures("committed_jobs")
def test_the_job_page_shows_a_partitioned_jobs_partitions_done(world, settings):
    split = run_started(world, settings, {"partitions": 3, "limit": 3000})
    whole = run_started(world, settings, {"limit": 3000})
    client = client_for(world, "staff")
    page = client.get(f"/admin/stream_exports/exportjob/{split['id']}/change/").content.decode()
    consistency = ExportJob.objects.get(pk=split["id"]).consistency
    assert f'data-field="partitions" >3 of 3 done (read {consistency})</dd>' in page
    other = client.get(f"/admin/stream_exports/exportjob/{whole['id']}/change/").content.decode()
    assert 'data-field="partitions" hidden></dd>' in other


@pytest.mark.usefixtures("committed_jobs")
def test_a_changelist_in_cursor_order_is_split_into_partitions_and_makes_the_same_file(
    world, settings
):
    """Before: an admin's background export was never split, so 10,000,000 rows of a
    changelist in id order took one reader. One in another order still is not."""
    client = client_for(world, "staff")

    def background(query: str, partition_rows: int) -> ExportJob:
        settings.STREAM_EXPORTS = {**IMMEDIATE, "PARTITION_ROWS": partition_rows}
        seen = set(ExportJob.objects.values_list("pk", flat=True))
        export(client, query, format="csv", mode="background", notify=False)
        return ExportJob.objects.exclude(pk__in=seen).get()

    whole = background("paid__exact=1", 0)
    split = background("paid__exact=1", 10_000)
    assert (whole.status, split.status) == ("succeeded", "succeeded")
    parts = -(-whole.rows // 10_000)
    assert parts > 1 and (whole.partition_set.count(), split.partition_set.count()) == (0, parts)
    assert file_of(split) == file_of(whole)
    descending = background("paid__exact=1&o=-1", 10_000)
    assert (descending.status, descending.partition_set.count()) == ("succeeded", 0)
    records = [rows_of_csv(file_of(job)) for job in (whole, descending)]
    assert records[1][0] == records[0][0] and records[1][1:] == records[0][:0:-1]
