"""The test app's changelist, driven as a signed-in user through Django's test client."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.test import Client

from tests.testapp.models import Order

CHANGELIST = "/admin/testapp/order/"


def client_for(world: dict[str, Any], user: str) -> Client:
    client = Client()
    client.force_login(world["users"][user])
    return client


def run_action(client: Client, action: str, query: str, across: bool = True, selected=()) -> Any:
    data = {"action": action, "select_across": "1" if across else "0", "index": "0"}
    data["_selected_action"] = list(selected) or ["1"]
    return client.post(f"{CHANGELIST}?{query}", data)


def matching_ids() -> list[int]:
    """The ids the changelist shows for ``paid__exact=1&q=ana&o=-3``, in its order."""
    rows = Order.objects.filter(paid=True).filter(
        Q(customer__icontains="ana") | Q(email__icontains="ana")
    )
    return list(rows.order_by("-amount", "-pk").values_list("id", flat=True))
