"""The jobs API through Django's test client: start, status, download, cancel, who sees what."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from stream_exports.core.datasets import registry
from stream_exports.http.access import sign_url
from stream_exports.jobs.lifecycle import create_job
from stream_exports.jobs.worker import run_job
from stream_exports.models import ExportJob

from ..job_api import get, run_started, start
from ..streams import events_of, text

pytestmark = pytest.mark.usefixtures("committed_jobs")


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


def answer_of(url: str) -> tuple[int, str]:
    """The status and error message (``""`` for a 200) of a GET of ``url``."""
    response = get(url)
    if response.streaming:
        b"".join(response.streaming_content)  # (read to its end, which closes it)
    ok = response.status_code == 200
    return response.status_code, "" if ok else response.json()["error"]


def test_losing_the_permission_ends_the_dataset_links_and_its_job_downloads(exporter, world):
    eve = exporter("eve")
    job = create_job(registry.get("orders"), {"limit": "3"}, eve)
    run_job(job.pk)
    export = sign_url("/exports/orders.ndjson", eve, {"limit": 1})
    download = sign_url(reverse("stream_exports:job-download", args=[job.pk]), eve)
    status = sign_url(reverse("stream_exports:job", args=[job.pk]), eve)
    assert answer_of(download) == (200, "")
    eve.user_permissions.clear()
    refused = (403, "you may not export dataset 'orders'.")
    assert answer_of(export) == refused
    assert answer_of(download) == refused
    assert answer_of(status) == (200, "")  # (no rows: the job's own status)
