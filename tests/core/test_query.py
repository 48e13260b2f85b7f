"""Query parameters: each bad one is a 400 naming it, before the first byte; the OPTIONS
table says which a signature binds and which a job keeps."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import QueryDict
from django.test import Client, RequestFactory

from stream_exports.core.query import OPTIONS, job_params, unsigned_params
from stream_exports.links.signing import AccessDenied, sign_url, signed_user

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


PATH = "/exports/orders.ndjson"
SIGNED = {"paid": "true", "fields": "id,note", "limit": "5", "after": "10", "trailer": "1"}


def test_the_table_binds_what_chooses_rows_and_frees_how_they_are_read():
    assert [name for name, option in OPTIONS.items() if option.chooses_rows] == ["fields", "limit"]
    assert unsigned_params() == {
        "sig",
        "after",
        "trailer",
        "bom",
        "labels",
        "download",
        "follow",
        "lastEventId",
    }


def signed_request(world, **changes: str):
    url = sign_url(PATH, world["users"]["staff"], SIGNED)
    query = QueryDict(url.split("?", 1)[1], mutable=True)
    for name, value in changes.items():
        query[name] = value
    return RequestFactory().get(f"{PATH}?{query.urlencode()}")


@pytest.mark.parametrize(
    "change",
    [{"after": "99"}, {"trailer": "0"}, {"download": "1"}, {"follow": "0"}, {"labels": "1"}],
)
def test_a_signed_url_stays_valid_when_how_it_is_read_changes(world, change):
    assert signed_user(signed_request(world, **change)) == world["users"]["staff"]


@pytest.mark.parametrize("change", [{"fields": "id"}, {"limit": "6"}, {"paid": "false"}])
def test_a_signed_url_refuses_a_change_of_what_it_exports(world, change):
    with pytest.raises(AccessDenied) as refused:
        signed_user(signed_request(world, **change))
    assert refused.value.status == 403
    assert "does not allow changing its filters, fields or limit" in refused.value.message


def test_a_job_keeps_what_shapes_its_file_and_drops_what_shapes_one_response():
    given = QueryDict("paid=true&after=10&fields=id,note&limit=5&trailer=0&download=1&sig=s")
    assert job_params(given).dict() == {
        "paid": "true",
        "after": "10",
        "fields": "id,note",
        "limit": "5",
    }
    assert given["sig"] == "s" and given["trailer"] == "0"  # the caller's are left alone


def test_a_job_started_with_response_options_stores_only_what_it_keeps(world, settings):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    params = {"limit": "5", "after": "7", "trailer": "0", "download": "1"}
    response = Client().post(sign_url("/exports/orders/jobs", world["users"]["staff"], params))
    assert response.status_code == 202, response.content
    assert response.json()["params"] == {"limit": "5", "after": "7"}
