"""The jobs API through Django's test client: start, status, download, cancel, who sees what."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse

from stream_exports.core.datasets import registry
from stream_exports.jobs.lifecycle import create_job
from stream_exports.jobs.worker import run_job
from stream_exports.links.signing import sign_url
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


@pytest.mark.parametrize(
    ("given", "notify"), [({}, True), ({"notify": "0"}, False), ({"notify": "true"}, True)]
)
def test_notify_is_the_job_starts_choice_and_the_job_keeps_where_it_was_started(
    world, given, notify
):
    body = start(world, {"limit": "1", **given}).json()
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.notify, job.site, job.params) == (notify, "http://testserver/", {"limit": "1"})


@pytest.mark.parametrize("given", [{"notify": "maybe"}, {"notify": ""}])
def test_a_bad_notify_is_400_naming_it(world, given):
    response = start(world, given)
    assert response.status_code == 400
    assert response.json()["param"] == "notify"
    assert not ExportJob.objects.exists()


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
    assert answer_of(export) == (
        404,
        "no dataset 'orders' that you may export; GET /exports/ lists those you may.",
    )
    assert answer_of(download) == (403, "you may not export dataset 'orders'.")  # (her job's)
    assert answer_of(status) == (200, "")  # (no rows: the job's own status)


JOBS = "/exports/orders/jobs"


def test_a_signed_start_replayed_answers_with_the_job_it_started(world):
    """Issue 25, tried: a signed job-start link posted three times started three jobs."""
    url = sign_url(JOBS, world["users"]["staff"], {"limit": 10})
    answers = [Client().post(url) for _ in range(3)]
    answers.append(Client().post(url + "&after=3"))  # (after is not signed: the same link)
    assert [answer.status_code for answer in answers] == [202, 200, 200, 200]
    assert {answer.json()["id"] for answer in answers} == {answers[0].json()["id"]}
    assert answers[1]["Location"] == answers[0]["Location"]
    assert ExportJob.objects.count() == 1


def test_a_signed_start_gets_only_the_rows_it_was_signed_for(world):
    url = sign_url(JOBS, world["users"]["staff"], {"after": 100, "limit": 10})
    below = Client().post(url.replace("after=100", "after=5"))
    assert below.status_code == 403 and below.json()["param"] == "after"
    assert not ExportJob.objects.exists()
    resumed = Client().post(url.replace("after=100", "after=104"))
    assert resumed.status_code == 202
    assert resumed.json()["params"] == {"after": "104", "limit": "6"}  # rows 105-110
    past = sign_url(JOBS, world["users"]["staff"], {"after": 100, "limit": 10})
    nothing_left = Client().post(past.replace("after=100", "after=110"))
    assert nothing_left.status_code == 403
    assert nothing_left.json()["error"].startswith("after: nothing is left")


def test_job_starts_over_the_users_cap_get_429_naming_it(world, settings):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    settings.STREAM_EXPORTS["MAX_JOBS_PER_USER"] = 2
    started = [start(world, {"limit": 1}) for _ in range(2)]
    assert [answer.status_code for answer in started] == [202, 202]
    over = start(world, {"limit": 1})
    assert over.status_code == 429
    assert over["Retry-After"] == "5"
    assert over.json()["error"] == (
        "you have 2 jobs queued or running, the most allowed (MAX_JOBS_PER_USER); "
        "wait for one to end, or cancel one."
    )
    assert start(world, {"limit": 1}, user="superuser").status_code == 202  # per user
    cancel = sign_url(f"/exports/jobs/{started[0].json()['id']}/cancel", world["users"]["staff"])
    assert Client().post(cancel).status_code == 202
    assert start(world, {"limit": 1}).status_code == 202  # a place is free again


def test_job_starts_over_the_sites_cap_get_429_naming_it(world, settings):
    settings.STREAM_EXPORTS = {
        "JOB_RUNNER": "stream_exports.runners.WorkerRunner",
        "MAX_JOBS": 2,
        "BUSY_RETRY_AFTER": 7,
    }
    assert start(world, {"limit": 1}).status_code == 202
    assert start(world, {"limit": 1}, user="superuser").status_code == 202
    over = start(world, {"limit": 1})
    assert (over.status_code, over["Retry-After"]) == (429, "7")
    assert over.json()["error"] == (
        "2 jobs are queued or running, the most allowed on this site (MAX_JOBS); try again soon."
    )


@pytest.mark.parametrize("value", ["²", "9" * 5000, "-1", "1.5", "٣", "0x10", "1e3"])
@pytest.mark.parametrize("where", ["header", "query"])
def test_a_last_event_id_that_is_no_event_number_is_400_naming_it(world, value, where):
    """Issue 25, tried: Last-Event-ID: ² was a 500 (str.isdigit, then int); so were 5,000
    digits."""
    events = start(world, {"limit": 1}).json()["links"]["events"]
    if where == "header":
        response = Client().get(events, headers={"Last-Event-ID": value})
        name = "Last-Event-ID"
    else:
        response = Client().get(f"{events}&{urlencode({'lastEventId': value})}")
        name = "lastEventId"
    assert response.status_code == 400
    assert response.json()["param"] == name
    assert response.json()["error"].startswith(f"{name}: ")


def test_an_empty_or_numbered_last_event_id_is_taken(world):
    events = start(world, {"limit": 1}).json()["links"]["events"]
    for value in ("", "1", "0"):
        response = Client().get(events, headers={"Last-Event-ID": value})
        assert response.status_code == 200
        response.close()
