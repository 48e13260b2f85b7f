"""The admin's export on a changelist, through "Export selected orders…" and the dialog:
export now, or in the background."""

from __future__ import annotations

import csv
import io
import json

from stream_exports.models import ExportJob

from .changelist import CHANGELIST, DIALOG, client_for, export, matching_ids


def test_export_now_streams_the_changelists_rows_in_its_order(world):
    response = export(client_for(world, "staff"), "paid__exact=1&q=ana&o=-3")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    trailer = lines.pop()["_stream"]
    assert [line["id"] for line in lines] == matching_ids()  # o=-3: by amount, descending
    assert trailer["status"] == "complete" and trailer["rows"] == len(lines)


def test_export_now_of_checked_rows_exports_only_those(world):
    response = export(client_for(world, "staff"), "", across=False, selected=["5", "3"])
    lines = b"".join(response.streaming_content).splitlines()
    assert [json.loads(line).get("id") for line in lines[:-1]] == [3, 5]


def test_background_export_redirects_to_the_job_with_the_same_rows(world):
    client = client_for(world, "staff")
    response = export(client, "paid__exact=1&q=ana&o=-3", mode="background")
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/stream_exports/exportjob/{job.pk}/change/"
    assert (job.status, job.rows) == ("succeeded", len(matching_ids()))
    assert (job.notify, job.site) == (True, "http://testserver/")  # (its mail's links' base)
    download = client.get(f"/exports/jobs/{job.pk}/download")
    lines = [json.loads(line) for line in b"".join(download.streaming_content).splitlines()]
    assert [line["id"] for line in lines[:-1]] == matching_ids()
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f'data-events="/exports/jobs/{job.pk}/events"' in page.content.decode()


def test_users_who_may_not_export_get_no_export_action_or_dialog(world):
    client = client_for(world, "staff")
    assert "export_selected" in client.get(CHANGELIST).content.decode()
    world["users"]["staff_without_perm"].user_permissions.add(
        *world["users"]["staff"].user_permissions.all()
    )
    # Same view permission, but the dataset refuses: a custom rule.
    from stream_exports.core.datasets import registry

    dataset = registry.get("orders")
    original = dataset.permission
    dataset.permission = lambda user: user.username == "staff"
    try:
        other = client_for(world, "staff_without_perm")
        changelist = other.get(CHANGELIST).content.decode()
        assert "export_selected" not in changelist
        assert DIALOG not in changelist  # no "Export" button
        assert other.get(DIALOG).status_code == 403
        assert (
            other.post(DIALOG, {"format": "csv", "fields": "id", "mode": "background"}).status_code
            == 403
        )
        assert not ExportJob.objects.exists()
    finally:
        dataset.permission = original
        world["users"]["staff_without_perm"].user_permissions.clear()


def test_export_now_over_the_per_user_cap_gets_429(world, settings):
    settings.STREAM_EXPORTS = {"MAX_STREAMS_PER_USER": 1}
    client = client_for(world, "staff")
    first = export(client, "paid__exact=1")  # open, not read
    assert first.status_code == 200
    second = export(client, "paid__exact=1")
    assert second.status_code == 429
    assert second["Retry-After"] == "5"
    assert "streams open" in second.json()["error"]
    first.close()
    third = export(client, "paid__exact=1")
    assert third.status_code == 200
    third.close()


def test_csv_now_and_in_background_export_the_changelists_rows(world):
    client = client_for(world, "staff")
    now = export(client, "paid__exact=1&q=ana&o=-3", format="csv")
    assert now["Content-Type"] == "text/csv; charset=utf-8; header=present"
    assert now["Content-Disposition"].endswith('.csv"')
    table = list(csv.reader(io.StringIO(b"".join(now.streaming_content).decode(), newline="")))
    assert [int(row[0]) for row in table[1:]] == matching_ids()
    later = export(client, "paid__exact=1&q=ana&o=-3", format="csv", mode="background")
    job = ExportJob.objects.get()
    assert later.status_code == 302
    assert (job.format, job.status, job.rows) == ("csv", "succeeded", len(matching_ids()))
    download = client.get(f"/exports/jobs/{job.pk}/download")
    assert download["Content-Disposition"] == f'attachment; filename="orders-{job.pk}.csv"'
    assert b"".join(download.streaming_content) == b"".join(
        export(client, "paid__exact=1&q=ana&o=-3", format="csv").streaming_content
    )


def test_the_export_action_is_the_changelists_only(world):
    """Django 6.1 asks for a change form's actions too: exports act on a changelist's rows."""
    from django.contrib import admin as django_admin
    from django.test import RequestFactory

    from tests.testapp.models import Order

    model_admin = django_admin.site.get_model_admin(Order)
    request = RequestFactory().get(CHANGELIST)
    request.user = world["users"]["staff"]
    assert "export_selected" in model_admin.get_actions(request)
    if location := getattr(django_admin, "ActionLocation", None):  # Django 6.1 and later
        assert "export_selected" in model_admin.get_actions(request, location.CHANGE_LIST)
        assert "export_selected" not in model_admin.get_actions(request, location.CHANGE_FORM)
