"""Behind API Gateway and Lambda Web Adapter: each request's public prefix; HTTPS at the gateway."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse, set_script_prefix

from stream_exports.aws import settings as aws_settings
from stream_exports.aws.gateway import public_prefix
from stream_exports.http.access import sign_url

pytestmark = pytest.mark.django_db

API_HOST = "abcde12345.execute-api.eu-west-1.amazonaws.com"
DOMAIN = "exports.example.com"
ON_LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "app", "AWS_REGION": "eu-west-1"}


@pytest.mark.parametrize(
    ("context", "forwarded", "expected"),
    [
        ({"stage": "prod", "path": "/prod/exports/"}, "/exports/", ("/prod", "/exports/")),
        ({"stage": "prod", "path": "/prod"}, "/", ("/prod", "/")),
        ({"stage": "prod", "path": "/exports/"}, "/exports/", ("", "/exports/")),
        ({"stage": "prod", "path": "/api/exports/"}, "/exports/", ("/api", "/exports/")),
        ({"stage": "prod", "path": "/prod/exports/"}, "/prod/exports/", ("/prod", "/exports/")),
        ({"stage": "$default", "path": "/exports/"}, "/exports/", ("", "/exports/")),
        ({"stage": "prod"}, "/exports/", ("", "/exports/")),
    ],
    ids=[
        "execute-api",
        "stage-root",
        "domain",
        "base-path-removed",
        "stage-forwarded",
        "v2",
        "no-path",
    ],
)
def test_the_public_prefix_is_what_the_client_asked_for_less_what_the_app_got(
    context, forwarded, expected
):
    assert public_prefix(context, forwarded) == expected


def test_gateway_settings_are_for_lambda_only_and_name_its_hosts():
    assert not aws_settings.behind_api_gateway({})
    assert aws_settings.behind_api_gateway(ON_LAMBDA)
    assert not aws_settings.behind_api_gateway({**ON_LAMBDA, "DJANGO_BEHIND_API_GATEWAY": "0"})
    deployed = aws_settings.gateway_settings({**ON_LAMBDA, "DJANGO_CUSTOM_DOMAINS": DOMAIN})
    assert deployed["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert deployed["SESSION_COOKIE_SECURE"] and deployed["CSRF_COOKIE_SECURE"]
    assert deployed["SECURE_HSTS_SECONDS"] > 0
    assert deployed["ALLOWED_HOSTS"] == [
        ".execute-api.eu-west-1.amazonaws.com",
        DOMAIN,
        "127.0.0.1",
    ]
    assert deployed["CSRF_TRUSTED_ORIGINS"] == [f"https://{DOMAIN}"]


@pytest.fixture(autouse=True)
def no_prefix_left_over():
    """Django's test client, unlike its handlers, does not reset the script prefix."""
    set_script_prefix("/")
    yield
    set_script_prefix("/")


def deployed(**changes: Any) -> override_settings:
    """The test project as deployed: the gateway's settings, middleware and static storage."""
    values = aws_settings.gateway_settings({**ON_LAMBDA, "DJANGO_CUSTOM_DOMAINS": DOMAIN})
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": aws_settings.STATIC_STORAGE}}
    middleware = [aws_settings.MIDDLEWARE, *settings.MIDDLEWARE]
    return override_settings(
        **{**values, "MIDDLEWARE": middleware, "STORAGES": storages, **changes}
    )


def as_gateway(host: str, public_path: str, stage: str = "prod") -> dict[str, str]:
    """The headers Lambda Web Adapter passes for a REST API request to ``public_path``."""
    context = {"stage": stage, "path": public_path, "domainName": host, "httpMethod": "GET"}
    return {
        "host": host,
        "x_forwarded_proto": "https",
        "x_forwarded_for": "203.0.113.9",
        "x_amzn_request_context": json.dumps(context),
    }


def through(client: Client, method: str, url: str, prefix: str, host: str, **kwargs: Any):
    """``url`` (as a client has it, under ``prefix``) as the adapter forwards it: without
    the stage, the public path in the request context."""
    path, _, query = url.partition("?")
    assert path.startswith(prefix + "/"), url
    inside = path[len(prefix) :] + (f"?{query}" if query else "")
    headers = {**as_gateway(host, path), **kwargs.pop("headers", {})}
    return getattr(client, method)(inside, headers=headers, **kwargs)


@pytest.mark.parametrize(("host", "prefix"), [(API_HOST, "/prod"), (DOMAIN, "")])
def test_links_redirects_admin_and_static_carry_the_public_prefix(world, host, prefix):
    client = Client()
    with deployed():
        start = sign_url(reverse("stream_exports:jobs", args=["orders"]), world["users"]["staff"])
        job = through(client, "post", prefix + start, prefix, host)
        assert job.status_code == 202, job.content
        links = job.json()["links"]
        assert all(link.startswith(prefix + "/exports/jobs/") for link in links.values()), links
        assert through(client, "get", links["self"], prefix, host).status_code == 200

        admin = through(client, "get", prefix + "/admin/", prefix, host)
        assert admin.status_code == 302
        assert admin["Location"] == f"{prefix}/admin/login/?next={prefix}/admin/"
        login = through(client, "get", admin["Location"], prefix, host)
        assert f'href="{prefix}/static/admin/css/base.css"' in login.content.decode()
        assert login["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("host", [API_HOST, DOMAIN])
def test_a_session_post_over_https_at_the_gateway_passes_csrf_and_fails_without_the_header(
    world, host
):
    """The admin's CSRF origin check holds only if Django trusts X-Forwarded-Proto."""

    def login(client: Client) -> int:
        page = through(client, "get", "/prod/admin/login/", "/prod", host)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
        assert token, page.content
        form = {"username": "root", "password": "pw", "csrfmiddlewaretoken": token[1]}
        origin = {"origin": f"https://{host}"}
        response = through(
            client, "post", "/prod/admin/login/", "/prod", host, data=form, headers=origin
        )
        return response.status_code

    with deployed():
        assert login(Client(enforce_csrf_checks=True)) == 302
    # Without the header the request looks like http: only a trusted origin would pass.
    with deployed(SECURE_PROXY_SSL_HEADER=None, CSRF_TRUSTED_ORIGINS=[]):
        assert login(Client(enforce_csrf_checks=True)) == 403


def test_hosts_other_than_the_gateways_are_refused(world):
    with deployed():
        assert Client().get("/exports/health", headers={"host": "evil.example"}).status_code == 400
        assert Client().get("/exports/health", headers={"host": API_HOST}).status_code == 200


def test_each_mistake_on_lambda_is_a_warning_and_the_deployed_settings_have_none(monkeypatch):
    from stream_exports import checks

    assert checks.check_api_gateway() == []  # not on Lambda: nothing to say
    for name, value in ON_LAMBDA.items():
        monkeypatch.setenv(name, value)
    with override_settings(
        ALLOWED_HOSTS=["*"], SECURE_PROXY_SSL_HEADER=None, SESSION_COOKIE_SECURE=False
    ):
        found = [warning.id for warning in checks.check_api_gateway()]
    assert found == [f"stream_exports.W00{n}" for n in (2, 4, 5, 6)]
    with override_settings(ALLOWED_HOSTS=[DOMAIN]):
        assert "stream_exports.W003" in [warning.id for warning in checks.check_api_gateway()]
    with deployed():
        assert checks.check_api_gateway() == []
