"""Filters: the rows an export's filters select are the ORM's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from tests.testapp.models import Order

from ..streams import body_lines

pytestmark = pytest.mark.django_db


def get(signed: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return Client().get(signed(params), **kwargs)


def test_filters_select_the_same_rows_as_the_orm(signed):
    params = {
        "paid": "true",
        "min_amount": "90000.00",
        "created_after": "2024-01-02T00:00:00Z",
        "created_before": "2024-01-20T00:00:00+00:00",
    }
    lines = body_lines(get(signed, params))
    expected = Order.objects.filter(
        paid=True,
        amount__gte=Decimal("90000.00"),
        created_at__gte="2024-01-02T00:00:00Z",
        created_at__lt="2024-01-20T00:00:00Z",
    ).order_by("id")
    assert [line["id"] for line in lines[:-1]] == list(expected.values_list("id", flat=True))
    assert lines[-1]["_stream"]["rows"] == expected.count() > 0


def test_a_datetime_is_the_instant_it_names_in_utc():
    from datetime import UTC, datetime

    from django.core.exceptions import ValidationError

    from stream_exports.core.filters import InstantField

    field = InstantField()
    # +16:00 is valid ISO 8601 and Python, but no database offset: given as UTC instead.
    assert field.clean("2000-01-01T00:00:00+16:00") == datetime(1999, 12, 31, 8, tzinfo=UTC)
    assert field.clean("2000-01-01T00:00:00+16:00").utcoffset().total_seconds() == 0
    with pytest.raises(ValidationError, match="outside the range of dates"):
        field.clean("0001-01-01T00:00:00+16:00")  # no UTC instant before year 1
