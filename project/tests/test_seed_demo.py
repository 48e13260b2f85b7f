"""``manage.py seed_demo``: deterministic orders, and a demo user only with DEBUG on."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from project.demo.models import Order
from project.demo.seed import order_rows
from stream_exports.datasets import registry

pytestmark = pytest.mark.django_db


def test_demo_user_refuses_to_exist_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo", rows=0, stdout=StringIO())


def test_seed_is_deterministic():
    assert list(order_rows(50, seed=7)) == list(order_rows(50, seed=7))
    assert list(order_rows(50, seed=7)) != list(order_rows(50, seed=8))


def test_seed_demo_makes_the_orders_and_a_demo_user_who_may_export_them(demo):
    assert list(Order.objects.values_list("id", flat=True)) == list(range(1, demo["rows"] + 1))
    user = demo["user"]
    assert user.is_staff and user.check_password("demo")
    assert user.email == "demo@example.com"  # (where "your export is ready" goes)
    assert user.has_perm("demo.view_order") and user.has_perm("demo.export_order")
    assert registry.allowed("orders", user).name == "orders"  # (EXPORT_PERMISSION "export")
