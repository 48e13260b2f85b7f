"""The admin's export dialog: what it offers, the choice as a URL, now or in the background,
bad input, who may use it, the hooks, and the dataset's rows per user."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client

from stream_exports.admin.changelists import changelist_source
from stream_exports.core.datasets import registry
from stream_exports.core.formats import registry as format_registry
from stream_exports.core.formats.csv import CSV
from stream_exports.models import ExportJob
from tests.testapp.models import Order

from .changelist import (
    CHANGELIST,
    DIALOG,
    client_for,
    export,
    matching_ids,
    rows_of_csv,
    run_action,
    submit,
)

QUERY = "paid__exact=1&q=ana&o=-3"
ROWS = [("_changelist_filters", QUERY)]
FIELDS = list(registry.get("orders").fields)


def dialog(client: Client, *params: tuple[str, str], method: str = "get"):
    """The dialog for the changelist at ``QUERY`` with ``params``."""
    return submit(client, [*ROWS, *params], method)


def checked(page, name: str) -> list[str]:
    """The values of the inputs named ``name`` the page shows checked."""
    context = page.context
    if name == "format":
        return [format.name for format, on in context["formats"] if on]
    if name == "fields":
        return [column.name for column, on in context["columns"] if on]
    return [context[name]]


def test_the_dialog_offers_every_format_the_fields_with_their_labels_and_the_count(
    world, monkeypatch
):
    class TSV(CSV):
        name, title, extension = "tsv", "Tab-separated", "tsv"

    monkeypatch.setitem(format_registry._formats, "tsv", TSV())
    page = dialog(client_for(world, "staff"))
    assert page.status_code == 200
    html = page.content.decode()
    offered = [format.name for format, _ in page.context["formats"]]
    assert sorted(offered) == sorted(f.name for f in format_registry.formats())
    spreadsheet = "xlsx" if "xlsx" in offered else "csv"  # Excel first where registered
    assert offered[0] == spreadsheet and checked(page, "format") == [spreadsheet]
    assert offered[-1] == "tsv"  # a project's own, after the built-ins
    assert 'value="tsv">Tab-separated' in html
    assert [column.name for column, _ in page.context["columns"]] == FIELDS  # dataset order
    assert checked(page, "fields") == FIELDS  # all ticked
    assert 'value="created_at" checked>Created at' in html  # the verbose name
    count = len(matching_ids())
    assert f"{count:,} orders: every one the list shows" in html
    assert checked(page, "mode") == ["now"] and page.context["notify"] is True
    assert 'name="csrfmiddlewaretoken"' in html and "disabled" in html  # a GET form for now


def test_a_bookmarked_choice_opens_the_dialog_as_chosen_and_its_link_is_that_url(world):
    client = client_for(world, "staff")
    choice = [("format", "csv"), ("fields", "id"), ("fields", "amount"), ("mode", "background")]
    choice.append(("notify", "on"))
    page = dialog(client, *choice)
    assert page.status_code == 200
    assert checked(page, "format") == ["csv"]
    assert checked(page, "fields") == ["id", "amount"]
    assert checked(page, "mode") == ["background"] and page.context["notify"] is True
    assert parse_qsl(page.context["link"][1:]) == [*ROWS, *choice]  # the same URL
    assert not ExportJob.objects.exists()  # a GET never starts a job
    again = client.get(DIALOG + page.context["link"])
    assert again.context["link"] == page.context["link"]
    response = client.get(DIALOG + page.context["link"].replace("mode=background", "mode=now"))
    assert response.status_code == 200  # the same choice, now: the file
    table = rows_of_csv(b"".join(response.streaming_content))
    assert len(table[0]) == 2
    assert [int(row[0]) for row in table[1:]] == matching_ids()


def test_the_fields_chosen_are_exported_in_the_order_offered(world):
    response = dialog(
        client_for(world, "staff"),
        ("format", "ndjson"),
        ("fields", "paid"),
        ("fields", "id"),
        ("mode", "now"),
    )
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert list(lines[0]) == ["id", "paid"]
    assert [line["id"] for line in lines[:-1]] == matching_ids()


def test_now_is_not_offered_above_the_setting_and_the_page_says_why(world, settings):
    count = len(matching_ids())
    client = client_for(world, "staff")
    settings.STREAM_EXPORTS = {**settings.STREAM_EXPORTS, "ADMIN_EXPORT_NOW_MAX_ROWS": count}
    assert dialog(client).context["now_offered"]  # at the setting: offered
    settings.STREAM_EXPORTS = {**settings.STREAM_EXPORTS, "ADMIN_EXPORT_NOW_MAX_ROWS": count - 1}
    page = dialog(client)
    html = page.content.decode()
    assert page.status_code == 200 and not page.context["now_offered"]
    assert 'value="now" disabled' in html
    assert f"Not offered above {count - 1:,} rows, and these are {count:,}" in html
    assert checked(page, "mode") == ["background"]
    assert 'method="post"' in html
    refused = dialog(client, ("format", "csv"), ("fields", "id"), ("mode", "now"))
    assert refused.status_code == 400
    assert f"Now is offered up to {count - 1:,} rows and these are {count:,}" in (
        refused.content.decode()
    )


def test_a_post_starts_a_job_with_the_format_the_fields_and_notify(world):
    client = client_for(world, "staff")
    response = dialog(
        client,
        ("format", "csv"),
        ("fields", "id"),
        ("fields", "customer"),
        ("mode", "background"),
        method="post",  # notify unticked
    )
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/stream_exports/exportjob/{job.pk}/change/"
    assert (job.format, job.params["fields"], job.notify) == ("csv", "id,customer", False)
    assert job.site == "http://testserver/"
    assert (job.status, job.rows) == ("succeeded", len(matching_ids()))
    table = rows_of_csv(b"".join(client.get(f"/exports/jobs/{job.pk}/download").streaming_content))
    assert len(table[0]) == 2 and [int(row[0]) for row in table[1:]] == matching_ids()
    dialog(
        client,
        ("format", "csv"),
        ("fields", "id"),
        ("mode", "background"),
        ("notify", "on"),
        method="post",
    )
    assert ExportJob.objects.exclude(pk=job.pk).get().notify is True


def test_a_background_export_needs_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"]["staff"])
    choice = [("format", "csv"), ("fields", "id"), ("mode", "background")]
    assert dialog(client, *choice, method="post").status_code == 403
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("format", "pdf"), ("fields", "id")], "format: pdf is no format here; choose one of"),
        ([("format", "csv"), ("fields", "secret")], "fields: secret is no field of this export."),
        ([("format", "csv"), ("mode", "now")], "fields: choose at least one field."),
        ([("format", "csv"), ("fields", "id"), ("mode", "later")], "mode: later is neither"),
        ([("selected", "abc"), ("format", "csv")], "selected: “abc” value must be an integer."),
        ([("selected", "9" * 30), ("format", "csv")], f"selected: {'9' * 30} is outside the"),
        ([("format", "csv"), ("fields", "id"), ("colour", "red")], "colour: unknown parameter"),
        ([("format", "csv"), ("format", "ndjson"), ("fields", "id")], "format: given twice"),
        ([("_changelist_filters", "q=\x00"), ("format", "csv")], "contains a NUL character"),
    ],
    ids=[
        *("format", "field", "no-field", "mode", "selected", "key-range", "parameter"),
        *("twice", "nul"),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_bad_input_is_the_dialog_again_with_a_400_naming_it(world, params, message, method):
    if "mode" not in dict(params):
        params = [*params, ("mode", "background")]
    page = dialog(client_for(world, "staff"), *params, method=method)
    assert page.status_code == 400
    assert message in page.content.decode()
    assert 'class="errornote"' in page.content.decode()
    assert not ExportJob.objects.exists()


def test_filters_the_changelist_refuses_are_a_400_too(world):
    client = client_for(world, "staff")
    page = client.get(DIALOG, {"_changelist_filters": "paid__exact=maybe"})
    assert page.status_code == 400
    assert "_changelist_filters: the list&#x27;s filters are not valid" in page.content.decode()


def test_the_changelists_button_and_action_open_the_dialog_with_its_rows(world):
    client = client_for(world, "staff")
    changelist = client.get(f"{CHANGELIST}?{QUERY}").content.decode()
    assert f'href="{DIALOG}?{urlencode(ROWS)}" class="export-link">Export</a>' in changelist
    assert ">Export selected orders…</option>" in changelist  # one action, not four
    picked = run_action(client, "export_selected", QUERY, across=False, selected=["5", "3"])
    assert picked["Location"] == f"{DIALOG}?{urlencode([*ROWS, ('selected', 5), ('selected', 3)])}"
    page = client.get(picked["Location"])
    expected = [i for i in matching_ids() if i in (3, 5)]
    assert page.context["count"] == len(expected)
    everything = run_action(client, "export_selected", QUERY)  # "select all"
    assert urlsplit(everything["Location"]).query == urlencode(ROWS)


def test_the_hooks_apply_now_and_in_the_background(world, monkeypatch):
    model_admin = admin.site.get_model_admin(Order)
    monkeypatch.setattr(
        type(model_admin),
        "get_export_queryset",
        lambda self, request, queryset: queryset.filter(quantity__gt=10),
        raising=True,
    )
    monkeypatch.setattr(type(model_admin), "get_export_formats", lambda self, request: [CSV()])
    big = [
        i
        for i, q in Order.objects.filter(id__in=matching_ids()).values_list("id", "quantity")
        if q > 10
    ]
    client = client_for(world, "staff")
    page = dialog(client)
    assert [format.name for format, _ in page.context["formats"]] == ["csv"]
    assert page.context["count"] == len(big)
    assert dialog(client, ("format", "ndjson"), ("fields", "id")).status_code == 400
    now = export(client, QUERY, format="csv", fields=["id"])
    assert sorted(int(row[0]) for row in rows_of_csv(b"".join(now.streaming_content))[1:]) == (
        sorted(big)
    )
    export(client, QUERY, format="csv", fields=["id"], mode="background")
    job = ExportJob.objects.get()
    assert job.rows == len(big)


def test_the_export_permission_guards_the_dialog_and_the_action(world, exporter, settings):
    settings.STREAM_EXPORTS = {**settings.STREAM_EXPORTS, "EXPORT_PERMISSION": "export"}
    viewer = Client()
    viewer.force_login(exporter("viewer"))  # view_order, not export_order
    changelist = viewer.get(CHANGELIST)
    assert changelist.status_code == 200  # they still see the list
    assert "export_selected" not in changelist.content.decode()
    assert DIALOG not in changelist.content.decode()
    assert viewer.get(DIALOG).status_code == 403
    choice = {"format": "csv", "fields": "id", "mode": "background"}
    assert viewer.post(DIALOG, choice).status_code == 403
    granted = exporter("granted")
    granted.user_permissions.add(Permission.objects.get(codename="export_order"))
    allowed = Client()
    allowed.force_login(granted)
    assert "export_selected" in allowed.get(CHANGELIST).content.decode()
    assert allowed.get(DIALOG).status_code == 200
    assert allowed.post(DIALOG, choice).status_code == 302
    assert ExportJob.objects.get().owner == granted


def test_a_host_may_refuse_exports_with_has_export_permission(world, monkeypatch):
    model_admin = admin.site.get_model_admin(Order)
    monkeypatch.setattr(type(model_admin), "has_export_permission", lambda self, request: False)
    client = client_for(world, "staff")
    assert "export_selected" not in client.get(CHANGELIST).content.decode()
    assert client.get(DIALOG).status_code == 403


def test_the_datasets_rows_for_the_user_bound_the_export_now_and_in_the_background(
    world, monkeypatch
):
    """A dataset whose queryset is per user: the changelist's rows outside it stay out."""
    dataset = registry.get("orders")
    monkeypatch.setattr(dataset, "queryset", lambda user: Order.objects.filter(quantity__lte=5))
    monkeypatch.setattr(dataset, "model_class", Order)
    theirs = set(Order.objects.filter(quantity__lte=5).values_list("id", flat=True))
    expected = [i for i in matching_ids() if i in theirs]
    assert 0 < len(expected) < len(matching_ids())
    client = client_for(world, "staff")
    assert dialog(client).context["count"] == len(expected)
    now = export(client, QUERY, fields=["id"])
    lines = [json.loads(line) for line in b"".join(now.streaming_content).splitlines()]
    assert [line["id"] for line in lines[:-1]] == expected
    export(client, QUERY, fields=["id"], mode="background")
    job = ExportJob.objects.get()
    download = client.get(f"/exports/jobs/{job.pk}/download")
    lines = [json.loads(line) for line in b"".join(download.streaming_content).splitlines()]
    assert [line["id"] for line in lines[:-1]] == expected


def test_a_jobs_source_keeps_any_key_as_json_text(world):
    model_admin = admin.site.get_model_admin(Order)
    key = uuid.uuid4()
    source = changelist_source(model_admin, "paid__exact=1", [key, 7])
    assert json.loads(json.dumps(source))["selected"] == [str(key), "7"]
    assert source["path"] == CHANGELIST


def test_the_pages_breadcrumbs_are_marked_up_as_the_running_djangos_own(world):
    """Django 6.1 made them a list: the admin's CSS styles only its own markup."""
    client = client_for(world, "staff")

    def crumbs(path: str) -> list[str]:
        return re.findall(r'<(\w+) class="breadcrumbs"', client.get(path).content.decode())

    [own] = crumbs(f"{CHANGELIST}1/change/")
    assert crumbs(f"{DIALOG}?{urlencode(ROWS)}") == [own]
    export(client, QUERY, mode="background")
    assert crumbs(f"/admin/stream_exports/exportjob/{ExportJob.objects.get().pk}/change/") == [own]
