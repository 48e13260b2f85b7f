""" "Your export is ready": the mail a job's owner gets when it ends, through a real SMTP
server on loopback, and the links in it."""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from stream_exports.core.datasets import registry
from stream_exports.jobs.lifecycle import create_job, request_cancel
from stream_exports.jobs.worker import run_job
from stream_exports.links.signing import sign_url
from stream_exports.models import ExportJob
from stream_exports.notify.mail import summary

from ..job_api import IMMEDIATE, QUEUE_ONLY
from ..mail import html_of, text_of
from ..servers import free_port

pytestmark = pytest.mark.usefixtures("committed_jobs")

PARAMS = {"paid": "true", "limit": "1234", "fields": "id,amount,note"}


@pytest.fixture
def owner(exporter):
    """A staff user who may export orders, with an e-mail address."""
    user = exporter("mailed")
    user.email = "mailed@example.com"
    user.first_name, user.last_name = "Ada", "Mailed"
    user.save()
    return user


def start_as(user: Any, settings, params: dict[str, str] | None = None) -> dict[str, Any]:
    """Start a job as ``user`` through the API (a signed POST) and run it to its end."""
    settings.STREAM_EXPORTS = {**settings.STREAM_EXPORTS, **IMMEDIATE}
    response = Client().post(sign_url("/exports/orders/jobs", user, params or {}))
    assert response.status_code == 202, response.content
    return response.json()


def line_after(text: str, label: str) -> str:
    """The line after the one that is ``label``."""
    lines = text.splitlines()
    return lines[lines.index(label) + 1]


def hrefs(body: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', body)]


def ndjson_ids(response: Any) -> list[int]:
    import json

    lines = b"".join(response.streaming_content).splitlines()
    return [json.loads(line)["id"] for line in lines[:-1]]


def test_a_succeeded_job_mails_its_owner_once_with_a_link_that_downloads_the_file(
    mailbox, owner, settings
):
    body = start_as(owner, settings, PARAMS)
    [mail] = mailbox.wait(1)
    job = ExportJob.objects.get(pk=body["id"])
    assert job.status == "succeeded" and job.site == "http://testserver/"
    assert mailbox.recipients == [["mailed@example.com"]]
    assert mail["To"] == "mailed@example.com"
    assert mail["Subject"] == "Your orders export is ready (NDJSON, 1,234 rows)"
    text = text_of(mail)
    assert text.startswith("Hello Ada Mailed,\n")
    assert "is ready: 1,234 rows," in text
    download = line_after(text, "Download it:")
    assert download.startswith(f"http://testserver/exports/jobs/{job.pk}/download?sig=")
    page = line_after(text, "The job:")
    assert page == f"http://testserver/admin/stream_exports/exportjob/{job.pk}/change/"
    assert "This link works until " in text and "(1\xa0hour after this mail was sent)" in text
    assert hrefs(html_of(mail)) == [download, page]

    file = Client().get(download)
    assert file.status_code == 200
    export = Client().get(sign_url("/exports/orders.ndjson", owner, PARAMS))
    ids = ndjson_ids(file)
    assert ids == ndjson_ids(export) and len(ids) == 1234
    staff = Client()
    staff.force_login(owner)
    assert staff.get(page).status_code == 200  # the admin's live page


def test_a_failed_jobs_mail_says_so_with_a_summary_and_no_download(
    mailbox, owner, settings, fails_after_first_batch
):
    body = start_as(owner, settings, {"limit": "5000"})
    [mail] = mailbox.wait(1)
    job = ExportJob.objects.get(pk=body["id"])
    assert job.status == "failed" and job.error
    assert mail["Subject"] == "Your orders export failed (NDJSON)"
    text = text_of(mail)
    assert f"failed after {job.rows:,} rows:\n\n    {job.error}\n" in text
    assert "Traceback" not in text + html_of(mail)
    assert "/download" not in text + html_of(mail)
    assert line_after(text, "The job:").endswith(f"/exportjob/{job.pk}/change/")


def test_a_cancelled_jobs_mail_says_so(mailbox, owner, settings):
    settings.STREAM_EXPORTS = QUEUE_ONLY
    job = create_job(registry.get("orders"), {}, owner, site="https://exports.example.com/")
    request_cancel(job)
    [mail] = mailbox.wait(1)
    assert mail["Subject"] == "Your orders export was cancelled (NDJSON)"
    text = text_of(mail)
    assert "was cancelled after 0 rows (cancelled before it started)." in text
    assert "/download" not in text
    page = f"https://exports.example.com/admin/stream_exports/exportjob/{job.pk}/change/"
    assert line_after(text, "The job:") == page


def test_notify_0_on_the_job_start_sends_no_mail(mailbox, owner, settings):
    body = start_as(owner, settings, {"limit": "10", "notify": "0"})
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.status, job.notify) == ("succeeded", False)
    assert mailbox.messages == []  # (ImmediateRunner: the job, and any mail, came first)
    start_as(owner, settings, {"limit": "10"})
    assert len(mailbox.wait(1)) == 1  # (and the same user's next job does mail)


def test_with_the_setting_off_no_job_mails(mailbox, owner, settings):
    settings.STREAM_EXPORTS = {**IMMEDIATE, "NOTIFY_BY_EMAIL": False}
    start_as(owner, settings, {"limit": "10"})
    assert ExportJob.objects.get().status == "succeeded"
    assert mailbox.messages == []


@pytest.mark.parametrize("why", ["no-address", "inactive"])
def test_an_owner_without_an_address_or_inactive_gets_no_mail(
    mailbox, owner, settings, caplog, why
):
    settings.STREAM_EXPORTS = QUEUE_ONLY
    job = create_job(registry.get("orders"), {"limit": "10"}, owner, site="http://h/")
    if why == "no-address":
        owner.email = ""
    else:
        owner.is_active = False
    owner.save()
    run_job(job.pk)
    # (An inactive owner's job does not run: it fails saying so, and tells nobody.)
    ended = "succeeded" if why == "no-address" else "failed"
    assert ExportJob.objects.get().status == ended
    assert mailbox.messages == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("refused", [False, True], ids=["unreachable", "recipient-refused"])
def test_a_mail_that_cannot_be_sent_is_logged_once_and_the_job_still_succeeds(
    mailbox, owner, settings, caplog, refused
):
    from ..mail import smtp_settings

    if refused:
        mailbox.refuse.add(owner.email)
    else:
        for name, value in smtp_settings(free_port()).items():  # nothing listens there
            setattr(settings, name, value)
    body = start_as(owner, settings, {"limit": "10"})
    job = ExportJob.objects.get(pk=body["id"])
    assert job.status == "succeeded" and job.rows == 10
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    why = "SMTPRecipientsRefused" if refused else "ConnectionRefusedError"
    assert (
        errors[0]
        .getMessage()
        .startswith(f"job {job.pk}: the mail to its owner 'mailed' was not sent: {why}")
    )
    assert errors[0].exc_info is None  # (one clear line, no traceback)
    assert mailbox.messages == []


def test_links_are_on_public_url_when_the_job_has_no_site_and_relative_without_it(
    mailbox, owner, settings
):
    settings.STREAM_EXPORTS = {**QUEUE_ONLY, "PUBLIC_URL": "https://exports.example.com/app/"}
    job = create_job(registry.get("orders"), {"limit": "5"}, owner)  # (no request: no site)
    run_job(job.pk)
    download = line_after(text_of(mailbox.wait(1)[0]), "Download it:")
    assert download.startswith(f"https://exports.example.com/app/exports/jobs/{job.pk}/download?")

    settings.STREAM_EXPORTS = QUEUE_ONLY
    job = create_job(registry.get("orders"), {"limit": "5"}, owner)
    run_job(job.pk)
    text = text_of(mailbox.wait(2)[1])
    download = line_after(text, "Download it:")
    assert download.startswith(f"/exports/jobs/{job.pk}/download?sig=")
    assert "These links are relative to the address of the site" in text
    assert Client().get(download).status_code == 200


def test_the_link_stops_working_once_the_owner_revokes_their_links(mailbox, owner, settings):
    start_as(owner, settings, {"limit": "10"})
    download = line_after(text_of(mailbox.wait(1)[0]), "Download it:")
    assert Client().get(download).status_code == 200
    revoke = Client().post(sign_url(reverse("stream_exports:revoke-links"), owner))
    assert revoke.status_code == 200, revoke.content
    refused = Client().get(download)
    assert refused.status_code == 403
    assert "revoked" in refused.json()["error"]


def test_an_owner_who_is_not_staff_gets_the_apis_job_page_signed(mailbox, exporter, settings):
    user = exporter("not_staff")
    user.email, user.is_staff = "not_staff@example.com", False
    user.save()
    settings.STREAM_EXPORTS = QUEUE_ONLY
    job = create_job(registry.get("orders"), {}, user, site="http://testserver/")
    request_cancel(job)
    page = line_after(text_of(mailbox.wait(1)[0]), "The job:")
    assert page.startswith(f"http://testserver/exports/jobs/{job.pk}?sig=")
    status = Client().get(page)
    assert status.status_code == 200 and status.json()["status"] == "cancelled"


def test_start_export_records_its_base_url_and_no_notify(mailbox, owner, settings, capsys):
    settings.STREAM_EXPORTS = QUEUE_ONLY
    call_command(
        "start_export", "orders", "limit=3", "--user", "mailed", "--base-url", "http://h:1"
    )
    call_command("start_export", "orders", "limit=3", "--user", "mailed", "--no-notify")
    first, second = ExportJob.objects.order_by("created_at")
    assert (first.site, first.notify) == ("http://h:1/", True)
    assert (second.site, second.notify) == ("", False)


def test_a_site_longer_than_the_column_is_dropped_not_cut(owner):
    long = "https://example.com/" + "p" * 200 + "/"
    assert create_job(registry.get("orders"), {}, owner, site=long).site == ""


@pytest.mark.parametrize(
    ("error", "said"),
    [
        ("RuntimeError: disk on fire", "RuntimeError: disk on fire"),
        ("connection lost\nDETAIL: the server closed it", "connection lost"),
        (
            'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad row',
            "ValueError: bad row",
        ),
        ("x" * 400, "x" * 299 + "…"),
        ("", ""),
    ],
    ids=["one-line", "first-line", "traceback", "long", "none"],
)
def test_a_failure_is_summed_up_in_one_short_line(error, said):
    assert summary(error) == said


def test_behind_api_gateway_the_links_carry_the_stage_and_download_through_it(
    mailbox, owner, settings
):
    from django.urls import set_script_prefix

    from ..aws.test_gateway import API_HOST, deployed, through

    settings.STREAM_EXPORTS = IMMEDIATE
    start = sign_url(reverse("stream_exports:jobs", args=["orders"]), owner, {"limit": "7"})
    try:
        with deployed():
            client = Client()
            assert through(client, "post", "/prod" + start, "/prod", API_HOST).status_code == 202
            job = ExportJob.objects.get()
            assert job.site == f"https://{API_HOST}/prod/"
            text = text_of(mailbox.wait(1)[0])
            download = line_after(text, "Download it:")
            public = f"https://{API_HOST}/prod/exports/jobs/{job.pk}/download?sig="
            assert download.startswith(public)
            page = f"https://{API_HOST}/prod/admin/stream_exports/exportjob/{job.pk}/change/"
            assert line_after(text, "The job:") == page
            file = through(
                client, "get", download.removeprefix(f"https://{API_HOST}"), "/prod", API_HOST
            )
            assert file.status_code == 200
            assert len(ndjson_ids(file)) == 7
    finally:
        set_script_prefix("/")
