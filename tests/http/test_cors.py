"""Cross-origin browsers (django-cors-headers): preflights and simple requests to the
exports API from an allowed origin and from a refused one."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ALLOWED = "https://app.example.com"
REFUSED = "https://evil.example.net"


@pytest.fixture(autouse=True)
def allowed_origin(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED]


def preflight(path: str, origin: str, method: str = "GET", headers: str = "") -> Any:
    extra = {"HTTP_ACCESS_CONTROL_REQUEST_HEADERS": headers} if headers else {}
    return Client().options(
        path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD=method, **extra
    )


def test_preflight_from_an_allowed_origin_is_answered_with_what_it_may_send(signed):
    response = preflight(signed({"limit": 1}), ALLOWED, headers="last-event-id,accept-encoding")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "GET" in response["Access-Control-Allow-Methods"]
    allowed_headers = response["Access-Control-Allow-Headers"].split(", ")
    assert "last-event-id" in allowed_headers
    assert "access-control-allow-credentials" not in {k.lower() for k in response.headers}


def test_preflight_of_a_signed_job_start_is_answered(signed, world):
    response = preflight("/exports/orders/jobs?sig=x", ALLOWED, method="POST")
    assert response.status_code == 200
    assert "POST" in response["Access-Control-Allow-Methods"]


def test_preflight_from_a_refused_origin_allows_nothing(signed):
    response = preflight(signed({"limit": 1}), REFUSED)
    assert "Access-Control-Allow-Origin" not in response


def test_an_export_read_from_an_allowed_origin_exposes_its_headers(signed):
    response = Client().get(signed({"limit": 2, "download": 1}), HTTP_ORIGIN=ALLOWED)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    exposed = response["Access-Control-Expose-Headers"].split(", ")
    assert {"Content-Disposition", "Retry-After", "Location"} <= set(exposed)
    assert b"".join(response.streaming_content).count(b"\n") == 3


def test_an_export_read_from_a_refused_origin_has_no_cors_headers(signed):
    response = Client().get(signed({"limit": 1}), HTTP_ORIGIN=REFUSED)
    assert response.status_code == 200  # served; the browser withholds it from the script
    assert "Access-Control-Allow-Origin" not in response
    b"".join(response.streaming_content)


def test_refusals_carry_cors_headers_so_a_script_can_read_the_error(world):
    response = Client().get("/exports/orders.ndjson?limit=x", HTTP_ORIGIN=ALLOWED)
    assert response.status_code in (400, 401)
    assert response["Access-Control-Allow-Origin"] == ALLOWED


def test_pages_outside_the_exports_api_get_no_cors_headers(world):
    response = Client().get("/admin/login/", HTTP_ORIGIN=ALLOWED)
    assert "Access-Control-Allow-Origin" not in response
