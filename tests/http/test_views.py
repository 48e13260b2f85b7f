"""The dataset list and the NDJSON export view: rows, headers, refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from stream_exports.links.signing import sign_url

from ..streams import body_lines

pytestmark = pytest.mark.django_db


def get(signed: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return Client().get(signed(params), **kwargs)


def test_headers_say_ndjson_utf8_uncached_unbuffered_and_unsized(signed):
    response = get(signed, {"limit": 1})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Cache-Control"] == "private, no-cache, no-store"
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


def test_unknown_dataset_is_404(signed):
    response = Client().get(signed(name="nothing"))
    assert response.status_code == 404
    assert "no dataset 'nothing' that you may export" in response.json()["error"]


def test_anonymous_script_gets_401_and_browser_the_login_page():
    response = Client().get("/exports/orders.ndjson")
    assert response.status_code == 401
    assert "authentication required" in response.json()["error"]
    page = Client().get("/exports/orders.ndjson", HTTP_ACCEPT="text/html,*/*;q=0.8")
    assert page.status_code == 302
    assert page["Location"].startswith("/admin/login/?next=/exports/orders.ndjson")


@pytest.mark.parametrize("user", ["plain", "staff_without_perm"])
def test_a_forbidden_dataset_is_answered_as_an_unknown_one(signed, user, audited):
    """Issue 25: an authenticated user told unknown datasets (404) from forbidden ones (403)."""
    forbidden = Client().get(signed(user=user))
    unknown = Client().get(signed(user=user, name="nothing"))
    assert (forbidden.status_code, unknown.status_code) == (404, 404)
    assert forbidden.json() == {
        "error": "no dataset 'orders' that you may export; GET /exports/ lists those you may."
    }
    assert unknown.json()["error"] == forbidden.json()["error"].replace("'orders'", "'nothing'")
    reasons = [row.reason for row in audited()]  # the audit trail says which it was
    assert reasons == ["you may not export dataset 'orders'.", "unknown dataset 'nothing'"]


def signed_in(world: dict[str, Any]) -> Client:
    client = Client()
    client.force_login(world["users"]["staff"])
    return client


@pytest.mark.parametrize(
    "answer",
    [
        lambda signed, world: Client().get(signed({"limit": 1})),
        lambda signed, world: Client().get(signed(user="plain")),
        lambda signed, world: signed_in(world).get("/exports/"),
        lambda signed, world: Client().post(
            sign_url("/exports/orders/jobs", world["users"]["staff"], {"limit": 1})
        ),
    ],
    ids=["export", "refusal", "listing", "job"],
)
def test_answers_that_carry_rows_or_links_are_never_stored(signed, world, answer, settings):
    """Issue 25: answers with signed links or rows said only no-cache (which lets a cache
    store them, to revalidate)."""
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    response = answer(signed, world)
    assert response["Cache-Control"] == "private, no-cache, no-store"
    response.close()


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
