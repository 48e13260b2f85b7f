"""GET /exports/openapi.json: a valid OpenAPI 3.1 document of the caller's datasets."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from openapi_spec_validator import validate

from stream_exports.core import filters
from stream_exports.core.datasets import Dataset, registry
from stream_exports.http.openapi import ERROR_STATUSES, document, filter_schema
from stream_exports.links.signing import sign_url
from tests.testapp.models import Order

URL = "/exports/openapi.json"


@pytest.fixture
def staff(db) -> User:
    user = User.objects.create_user("openapi-staff", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_order"))
    return user


def params(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation["parameters"]}


def test_the_document_is_valid_openapi_3_1_and_lists_every_endpoint(client, staff):
    client.force_login(staff)
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    spec = response.json()
    validate(spec)  # raises on any problem
    assert spec["openapi"] == "3.1.0"
    assert set(spec["paths"]) == {
        "/exports/",
        "/exports/openapi.json",
        "/exports/health",
        "/exports/links/revoke",
        "/exports/orders.ndjson",
        "/exports/orders.csv",
        "/exports/orders.xlsx",
        "/exports/orders/jobs",
        "/exports/jobs/{job_id}",
        "/exports/jobs/{job_id}/events",
        "/exports/jobs/{job_id}/log",
        "/exports/jobs/{job_id}/download",
        "/exports/jobs/{job_id}/cancel",
    }
    paths = spec["paths"]
    assert set(paths["/exports/orders/jobs"]) == {"post"}
    assert set(paths["/exports/jobs/{job_id}/cancel"]) == {"post"}
    events = paths["/exports/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    assert list(events) == ["text/event-stream; charset=utf-8"]
    log = paths["/exports/jobs/{job_id}/log"]["get"]["responses"]["200"]["content"]
    assert list(log) == ["text/plain; charset=utf-8"]
    download = paths["/exports/jobs/{job_id}/download"]["get"]["responses"]
    assert {"200", "302", "409"} <= set(download)
    assert set(download["200"]["content"]) == {
        "application/x-ndjson; charset=utf-8",
        "text/csv; charset=utf-8; header=present",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }


def test_filters_are_typed_and_options_follow_their_formats(client, staff):
    client.force_login(staff)
    paths = client.get(URL).json()["paths"]
    ndjson = params(paths["/exports/orders.ndjson"]["get"])
    csv = params(paths["/exports/orders.csv"]["get"])
    assert ndjson["paid"]["schema"] == {"type": "boolean"}
    assert ndjson["created_after"]["schema"] == {"type": "string", "format": "date-time"}
    assert ndjson["min_amount"]["schema"]["format"] == "decimal"
    fields = ndjson["fields"]
    assert (fields["style"], fields["explode"]) == ("form", False)
    assert fields["schema"]["items"]["enum"][:3] == ["id", "customer", "email"]
    assert ndjson["after"]["schema"]["type"] == "integer"  # the cursor's type
    xlsx = params(paths["/exports/orders.xlsx"]["get"])
    assert "trailer" in ndjson and "trailer" not in csv and "trailer" not in xlsx
    assert "bom" in csv and "bom" not in ndjson and "bom" not in xlsx
    assert "labels" in csv and "labels" in xlsx and "labels" not in ndjson
    assert xlsx["labels"]["schema"] == {"type": "boolean"}
    assert {"limit", "download", "sig", "fields", "paid"} <= set(ndjson) & set(csv) & set(xlsx)
    jobs = params(paths["/exports/orders/jobs"]["post"])
    assert jobs["format"]["schema"]["enum"] == ["ndjson", "csv", "xlsx"]
    assert jobs["notify"]["schema"] == {"type": "boolean", "default": True}
    assert "download" not in jobs and "trailer" not in jobs
    assert "bom" in jobs and "labels" in jobs


def test_responses_name_their_media_types_and_errors(client, staff):
    client.force_login(staff)
    spec = client.get(URL).json()
    ndjson = spec["paths"]["/exports/orders.ndjson"]["get"]["responses"]
    assert list(ndjson["200"]["content"]) == ["application/x-ndjson; charset=utf-8"]
    assert {"400", "401", "403", "404", "406", "429", "503"} <= set(ndjson)
    xlsx = spec["paths"]["/exports/orders.xlsx"]["get"]["responses"]
    assert list(xlsx["200"]["content"]) == [
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ]
    assert "406" not in xlsx  # (never compressed: no encoding to refuse)
    errors = spec["components"]["responses"]
    assert set(errors) == set(ERROR_STATUSES)
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "param"}
    record = spec["components"]["schemas"]["orders_record"]["properties"]
    assert record["id"]["type"] == "integer"
    assert record["amount"] == {"type": "string", "format": "decimal"}
    assert record["created_at"] == {"type": "string", "format": "date-time"}
    assert record["paid"] == {"type": "boolean"}
    assert record["note"]["type"] == ["string", "null"]
    assert record["data"] == {}  # JSON: anything


def test_the_document_has_only_the_callers_datasets(client, db):
    plain = User.objects.create_user("openapi-plain", password="pw")
    client.force_login(plain)
    spec = client.get(URL).json()
    validate(spec)
    assert not any("orders" in path for path in spec["paths"])
    assert "/exports/jobs/{job_id}" in spec["paths"]


def test_strangers_are_refused_and_a_signed_url_speaks_for_its_user(client, staff):
    assert client.get(URL, HTTP_ACCEPT="application/json").status_code == 401
    signed = sign_url(reverse("stream_exports:openapi"), staff)
    response = client.get(signed)
    assert response.status_code == 200
    assert "/exports/orders.csv" in response.json()["paths"]


def test_an_integer_and_a_choice_filter(db):
    assert filter_schema(filters.integer("quantity", "gte")) == {
        "type": "integer",
        "format": "int64",
        "minimum": -(2**63 - 1),
        "maximum": 2**63 - 1,
    }
    assert filter_schema(filters.choice("customer", ["a", "b"])) == {
        "type": "string",
        "enum": ["a", "b"],
    }
    assert filter_schema(filters.date("created_at")) == {"type": "string", "format": "date"}
    assert filter_schema(filters.text("customer", max_length=20)) == {
        "type": "string",
        "maxLength": 20,
    }
    dataset = Dataset(
        name="orders-by-qty",
        queryset=Order.objects.all(),
        fields=["id", "quantity"],
        filters={"q": filters.integer("quantity"), "c": filters.choice("customer", ["x"])},
    )
    spec = document([*registry, dataset])
    validate(spec)
    assert "/exports/orders-by-qty.ndjson" in spec["paths"]
    assert "orders_by_qty_record" in spec["components"]["schemas"]


def test_exported_rows_match_the_record_schema(client, staff, world):
    """(Schemathesis has no NDJSON reader: each exported line is checked here.)"""
    import datetime
    import json

    from jsonschema import Draft202012Validator

    Order.objects.create(
        customer="Zoë", email="z@example.com", amount="12.50", quantity=2,
        created_at=datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC), note=None,
        data={"a": [1]},
    )  # fmt: skip
    client.force_login(staff)
    record = client.get(URL).json()["components"]["schemas"]["orders_record"]
    # Every kind of value the seed makes is among its first 2,000 orders; then the one above.
    lines = []
    for window in ("limit=2000", f"after={world['rows']}"):
        response = client.get(f"/exports/orders.ndjson?trailer=false&{window}")
        lines += [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert len(lines) == 2001
    validator = Draft202012Validator(record, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for line in lines:
        validator.validate(line)
