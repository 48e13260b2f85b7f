"""The admin's export job pages: only the owner's jobs; cancel and run again."""

from __future__ import annotations

from stream_exports.models import ExportJob

from .changelist import client_for, run_action


def test_job_list_and_pages_show_only_the_owners_jobs(world):
    client = client_for(world, "staff")
    run_action(client, "export_ndjson_background", "paid__exact=1")
    job = ExportJob.objects.get()
    page = f"/admin/stream_exports/exportjob/{job.pk}/change/"
    assert str(job.pk)[:8] in client.get("/admin/stream_exports/exportjob/").content.decode()
    stranger = client_for(world, "staff_without_perm")
    assert str(job.pk)[:8] not in stranger.get("/admin/stream_exports/exportjob/").content.decode()
    assert stranger.get(page).status_code == 404
    assert client_for(world, "superuser").get(page).status_code == 200


def test_cancel_and_run_again_from_the_job_page(world, settings):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.jobs.runners.WorkerRunner"}
    client = client_for(world, "staff")
    run_action(client, "export_ndjson_background", "paid__exact=0")
    job = ExportJob.objects.get()
    assert client.post(f"/admin/stream_exports/exportjob/{job.pk}/cancel/").status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"
    response = client.post(f"/admin/stream_exports/exportjob/{job.pk}/rerun/")
    again = ExportJob.objects.exclude(pk=job.pk).get()
    assert response["Location"] == f"/admin/stream_exports/exportjob/{again.pk}/change/"
    assert (again.source, again.status) == (job.source, "queued")
    assert client.get(f"/admin/stream_exports/exportjob/{job.pk}/cancel/").status_code == 405
