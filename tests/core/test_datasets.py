"""Datasets: declarations checked, registered once, per-user rows."""

from __future__ import annotations

import pytest

from stream_exports.core import filters
from stream_exports.core.datasets import Dataset, Registry
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
