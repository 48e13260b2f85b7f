"""Datasets: declarations checked, registered once, per-user rows, who may export them."""

from __future__ import annotations

import pytest

from stream_exports.core import filters
from stream_exports.core.datasets import (
    Dataset,
    ExportNotAllowed,
    Registry,
    UnknownDataset,
    registry,
)
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad Name"}, "must be lowercase"),
        ({"fields": []}, "declares no fields"),
    ],
)
def test_dataset_declarations_are_checked(kwargs, message):
    declaration = {"name": "x", "queryset": Order.objects.all(), "fields": ["id"], **kwargs}
    with pytest.raises(Exception, match=message):
        Dataset(**declaration)


def test_a_dataset_is_registered_once():
    registry = Registry()
    registry.register(Dataset("x", Order.objects.all(), ["id"]))
    with pytest.raises(Exception, match="registered twice"):
        registry.register(Dataset("x", Order.objects.all(), ["id"]))


def test_callable_querysets_scope_rows_per_user(world):
    dataset = Dataset(
        "mine",
        lambda user: Order.objects.filter(id__lte=3 if user.is_superuser else 1),
        ["id"],
        model_class=Order,
        filters={"paid": filters.boolean("paid")},
    )
    assert dataset.get_queryset(world["users"]["superuser"]).count() == 3
    assert dataset.get_queryset(world["users"]["staff"]).count() == 1
    assert dataset.cursor_column == "id"


def test_allowed_names_an_unknown_dataset(world):
    with pytest.raises(UnknownDataset) as raised:
        registry.allowed("nothing", world["users"]["superuser"])
    assert raised.value.name == "nothing"
    assert str(raised.value) == "unknown dataset 'nothing'"


@pytest.mark.parametrize("user", ["plain", "staff_without_perm"])
def test_allowed_refuses_a_user_who_may_not_export(world, user):
    with pytest.raises(ExportNotAllowed) as raised:
        registry.allowed("orders", world["users"][user])
    assert str(raised.value) == "you may not export dataset 'orders'."
    assert raised.value.user == world["users"][user]


@pytest.mark.parametrize("user", ["staff", "superuser"])
def test_allowed_gives_the_dataset_to_a_user_who_may_export_it(world, user):
    assert registry.allowed("orders", world["users"][user]) is registry.get("orders")


def test_allowed_follows_the_datasets_own_rule(world):
    only_plain = Dataset(
        "plain-only", Order.objects.all(), ["id"], permission=lambda u: u.username == "plain"
    )
    own = Registry()
    own.register(only_plain)
    assert own.allowed("plain-only", world["users"]["plain"]) is only_plain
    with pytest.raises(ExportNotAllowed):
        own.allowed("plain-only", world["users"]["superuser"])


def test_the_default_rule_asks_for_the_permission_the_setting_names(world, exporter, settings):
    """EXPORT_PERMISSION "export": staff with testapp.export_order, not view_order alone."""
    from django.contrib.auth.models import Permission

    viewer, exporting = exporter("viewer"), exporter("exporting")
    exporting.user_permissions.add(Permission.objects.get(codename="export_order"))
    dataset = registry.get("orders")
    assert dataset.has_permission(viewer) and dataset.has_permission(exporting)  # "view"
    settings.STREAM_EXPORTS = {"EXPORT_PERMISSION": "export"}
    assert dataset.export_permission == "testapp.export_order"
    assert not dataset.has_permission(viewer)
    assert dataset.has_permission(exporting)
    assert dataset.has_permission(world["users"]["superuser"])


def test_restrict_keeps_a_querysets_rows_the_user_may_export_in_its_order(world):
    mine = Dataset(
        "mine",
        lambda user: Order.objects.filter(id__lte=20 if user.is_superuser else 10),
        ["id"],
        model_class=Order,
    )
    changelist = Order.objects.filter(id__gt=5).order_by("-id")
    staff, root = world["users"]["staff"], world["users"]["superuser"]
    assert list(mine.restrict(changelist, staff).values_list("id", flat=True)) == [10, 9, 8, 7, 6]
    assert list(mine.restrict(changelist, root)[:2].values_list("id", flat=True)) == [20, 19]
    everything = Dataset("all", Order.objects.all(), ["id"])
    assert everything.restrict(changelist, staff).query.where == changelist.query.where  # as is
