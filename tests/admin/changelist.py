"""The test app's changelist and its export dialog, driven as a signed-in user through
Django's test client."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.db.models import Q
from django.test import Client

from tests.testapp.models import Order

CHANGELIST = "/admin/testapp/order/"
DIALOG = "/admin/testapp/order/export/"


def client_for(world: dict[str, Any], user: str) -> Client:
    client = Client()
    client.force_login(world["users"][user])
    return client


def run_action(client: Client, action: str, query: str, across: bool = True, selected=()) -> Any:
    data = {"action": action, "select_across": "1" if across else "0", "index": "0"}
    data["_selected_action"] = list(selected) or ["1"]
    return client.post(f"{CHANGELIST}?{query}", data)


def export(
    client: Client,
    query: str,
    format: str = "ndjson",
    mode: str = "now",
    across: bool = True,
    selected=(),
    fields=(),
    notify: bool = True,
) -> Any:
    """What a user gets who checks rows of the changelist at ``?query`` (or "select all"),
    runs "Export selected orders…" and, in the dialog, chooses ``format``, ``fields``
    (default: all, as offered) and ``mode``: now (a GET), in the background (a POST),
    leaving "E-mail me when it is ready" ticked unless ``notify`` is False."""
    opened = run_action(client, "export_selected", query, across, selected)
    assert opened.status_code == 302, opened
    url = urlsplit(opened["Location"])
    assert url.path == DIALOG
    rows = parse_qsl(url.query)
    page = client.get(opened["Location"])
    assert page.status_code == 200
    names = list(fields) or [column.name for column, _ in page.context["columns"]]
    choice = [("format", format), *(("fields", name) for name in names), ("mode", mode)]
    if notify and mode != "now":
        choice.append(("notify", "on"))
    return submit(client, [*rows, *choice], "get" if mode == "now" else "post")


def submit(client: Client, params: list[tuple[str, Any]], method: str = "get") -> Any:
    """The dialog's form sent with ``params`` (name, value pairs), as a GET or a POST."""
    if method == "get":
        return client.get(DIALOG, params)
    data: dict[str, list[Any]] = {}
    for name, value in params:
        data.setdefault(name, []).append(value)
    return client.post(DIALOG, data)


def matching_ids() -> list[int]:
    """The ids the changelist shows for ``paid__exact=1&q=ana&o=-3``, in its order."""
    rows = Order.objects.filter(paid=True).filter(
        Q(customer__icontains="ana") | Q(email__icontains="ana")
    )
    return list(rows.order_by("-amount", "-pk").values_list("id", flat=True))


def rows_of_csv(body: bytes) -> list[list[str]]:
    """A CSV export's records (its header first)."""
    return list(csv.reader(io.StringIO(body.decode(), newline="")))
