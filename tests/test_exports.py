"""The NDJSON export view through Django's test clients: parameters, headers, errors."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from stream_exports.core import readers as engine
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(world: dict[str, Any]) -> Client:
    client = Client()
    client.force_login(world["users"]["staff"])
    return client


def body_lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def get(signed: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return Client().get(signed(params), **kwargs)


def test_headers_say_ndjson_utf8_uncached_unbuffered_and_unsized(signed):
    response = get(signed, {"limit": 1})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    assert not response.has_header("Content-Length")
    assert not response.has_header("Content-Disposition")


def test_download_names_an_attachment(signed):
    response = get(signed, {"limit": 1, "download": 1})
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    assert response["Content-Disposition"].endswith('.ndjson"')


def test_rows_come_in_cursor_order_with_a_complete_trailer(signed):
    lines = body_lines(get(signed, {"limit": 50}))
    ids = [line["id"] for line in lines[:-1]]
    assert ids == list(range(1, 51))
    assert lines[-1] == {"_stream": {"status": "complete", "rows": 50, "last": 50}}


def test_after_resumes_past_the_cursor(signed):
    lines = body_lines(get(signed, {"after": 1000, "limit": 3}))
    assert [line["id"] for line in lines[:-1]] == [1001, 1002, 1003]


def test_fields_selects_a_subset_in_the_given_order(signed):
    lines = body_lines(get(signed, {"fields": "note,id", "limit": 2}))
    assert list(lines[0]) == ["note", "id"]


def test_trailer_is_omitted_on_request(signed):
    lines = body_lines(get(signed, {"limit": 2, "trailer": 0}))
    assert [line["id"] for line in lines] == [1, 2]


def test_cursor_is_tracked_even_when_not_exported(signed):
    lines = body_lines(get(signed, {"fields": "customer", "limit": 5, "after": 10}))
    assert lines[-1]["_stream"]["last"] == 15
    assert all(list(line) == ["customer"] for line in lines[:-1])


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


@pytest.mark.parametrize("setting", ["cursor", "keyset"])
def test_both_engines_give_the_same_bytes(signed, settings, setting):
    params = {"after": 123, "limit": 4567, "paid": "false"}
    settings.STREAM_EXPORTS = {"ENGINE": "cursor", "CHUNK_SIZE": 1000, "COPY_FAST_PATH": False}
    expected = b"".join(get(signed, params).streaming_content)
    settings.STREAM_EXPORTS = {"ENGINE": setting, "CHUNK_SIZE": 333, "COPY_FAST_PATH": False}
    assert b"".join(get(signed, params).streaming_content) == expected


def test_keyset_is_chosen_without_server_side_cursors(settings):
    from django.db import connections

    settings.STREAM_EXPORTS = {"ENGINE": "auto"}
    conn = connections["default"]
    assert engine.choose_engine("default") == "cursor"
    conn.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        assert engine.choose_engine("default") == "keyset"
    finally:
        del conn.settings_dict["DISABLE_SERVER_SIDE_CURSORS"]


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


def test_unknown_dataset_is_404(signed):
    response = Client().get(signed(name="nothing"))
    assert response.status_code == 404
    assert "unknown dataset 'nothing'" in response.json()["error"]


def test_anonymous_script_gets_401_and_browser_the_login_page():
    response = Client().get("/exports/orders.ndjson")
    assert response.status_code == 401
    assert "authentication required" in response.json()["error"]
    page = Client().get("/exports/orders.ndjson", HTTP_ACCEPT="text/html,*/*;q=0.8")
    assert page.status_code == 302
    assert page["Location"].startswith("/admin/login/?next=/exports/orders.ndjson")


@pytest.mark.parametrize("user", ["plain", "staff_without_perm"])
def test_users_without_view_permission_get_403(signed, user):
    response = Client().get(signed(user=user))
    assert response.status_code == 403
    assert response.json() == {"error": "you may not export dataset 'orders'."}


def test_session_user_with_permission_may_export(world):
    client = Client()
    client.force_login(world["users"]["staff"])
    response = client.get("/exports/orders.ndjson", {"limit": 1})
    assert response.status_code == 200
    assert json.loads(b"".join(response.streaming_content).splitlines()[0])["id"] == 1


def test_superuser_may_export_without_explicit_permission(signed):
    assert Client().get(signed({"limit": 1}, user="superuser")).status_code == 200


def test_post_is_not_allowed(signed):
    assert Client().post(signed()).status_code == 405


def test_listing_shows_only_datasets_the_caller_may_export(world):
    client = Client()
    client.force_login(world["users"]["staff"])
    (orders,) = client.get("/exports/").json()
    assert orders["name"] == "orders"
    assert orders["cursor"] == "id"
    assert orders["fields"][:3] == ["id", "customer", "email"]
    assert [f["name"] for f in orders["filters"]] == [
        "paid",
        "created_after",
        "created_before",
        "min_amount",
    ]
    assert orders["urls"]["ndjson"] == "/exports/orders.ndjson"
    client.force_login(world["users"]["plain"])
    assert client.get("/exports/").json() == []


def test_failure_after_the_first_byte_ends_with_an_error_trailer(
    signed, fails_after_first_batch, caplog, settings
):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": False}  # (PostgreSQL's fails for real elsewhere)
    lines = body_lines(get(signed, {"limit": 5000}))
    assert len(lines) == 2001
    assert lines[-1] == {
        "_stream": {
            "status": "error",
            "error": "export failed (server error, RuntimeError); the server log has the cause",
            "retry": False,  # not the database's connection: resuming would fail again
            "rows": 2000,
            "last": 2000,
        }
    }
    assert "disk on fire" in caplog.text


async def test_asgi_requests_get_an_async_stream(signed):
    response = await AsyncClient().get(signed({"limit": 3}))
    assert response.is_async
    chunks = [chunk async for chunk in response.streaming_content]
    await sync_to_async(connections.close_all)()  # the view's thread keeps its connection
    lines = b"".join(chunks).splitlines()
    assert [json.loads(line).get("id") for line in lines[:-1]] == [1, 2, 3]


def test_wsgi_requests_get_a_sync_stream(signed):
    assert not get(signed, {"limit": 1}).is_async


@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
def test_an_unreachable_database_is_503_with_retry_after(signed, monkeypatch, error):
    from django import db

    from stream_exports.core.datasets import registry

    def down(*args: Any) -> Any:
        raise getattr(db, error)("connection refused")

    monkeypatch.setattr(registry, "allowed", down)
    response = get(signed)
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert "database is unavailable" in response.json()["error"]
