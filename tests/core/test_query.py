"""Query parameters: each bad one is a 400 naming it, before the first byte."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(world: dict[str, Any]) -> Client:
    client = Client()
    client.force_login(world["users"]["staff"])
    return client


@pytest.mark.parametrize(
    ("params", "param", "words"),
    [
        ({"paid": "maybe"}, "paid", "true or false"),
        ({"paid": ""}, "paid", "required"),
        ({"min_amount": "ten"}, "min_amount", "number"),
        ({"created_after": "yesterday"}, "created_after", "date/time"),
        ({"fields": "id,secret"}, "fields", "unknown field 'secret'"),
        ({"fields": "id,,note"}, "fields", "separated by commas"),
        ({"fields": "id,id"}, "fields", "twice"),
        ({"limit": "0"}, "limit", "greater than or equal to 1"),
        ({"limit": "-5"}, "limit", "greater than or equal to 1"),
        ({"limit": "many"}, "limit", "whole number"),
        ({"limit": str(2**64)}, "limit", "less than or equal to"),
        ({"after": "abc"}, "after", "integer"),
        ({"after": str(2**70)}, "after", "outside the range"),
        ({"trailer": "perhaps"}, "trailer", "true or false"),
        ({"download": "2"}, "download", "true or false"),
        ({"colour": "red"}, "colour", "unknown parameter"),
        ({"paid": "tr\x00ue"}, "paid", "NUL character"),
    ],
)
def test_bad_parameters_get_400_naming_the_parameter(staff_client, params, param, words):
    response = staff_client.get("/exports/orders.ndjson", params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["param"] == param
    assert body["error"].startswith(f"{param}: ")
    assert words in body["error"]


def test_repeated_parameter_is_refused(staff_client):
    response = staff_client.get("/exports/orders.ndjson?paid=true&paid=false")
    assert response.status_code == 400
    assert response.json() == {
        "error": "paid: given more than once; give it once.",
        "param": "paid",
    }
