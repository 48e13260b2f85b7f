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
from stream_exports.links.signing import sign_url

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
    from stream_exports.aws import checks

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


HOSTILE_PEER = "203.0.113.66"  # a client that reaches the server directly, not the adapter


def start_job_as(client: Client, world, context: dict[str, Any], **headers: str):
    start = sign_url(reverse("stream_exports:jobs", args=["orders"]), world["users"]["staff"])
    gateway = {"x_amzn_request_context": json.dumps(context), "host": API_HOST, **headers}
    return client.post(start, headers=gateway, REMOTE_ADDR=headers.pop("peer", "127.0.0.1"))


def test_the_request_context_of_a_peer_that_is_not_the_adapter_is_ignored(world):
    """Issue 25, tried: a client reaching the server sent its own x-amzn-request-context and
    every link the app made was built on the path it chose."""
    context = {"stage": "prod", "path": "/evil/exports/orders/jobs"}
    with deployed():
        job = start_job_as(Client(), world, context, peer=HOSTILE_PEER)
        assert job.status_code == 202, job.content
        assert all(link.startswith("/exports/jobs/") for link in job.json()["links"].values())
        trusted = start_job_as(Client(), world, context)  # the adapter's: from loopback
        assert all(link.startswith("/evil/exports/") for link in trusted.json()["links"].values())


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example/exports/orders/jobs",
        "/%2Fevil.example/exports/orders/jobs",
        "/a/../exports/orders/jobs",
        "/a/%2e%2e/exports/orders/jobs",
        "https://evil.example/exports/orders/jobs",
        "/a%252Fb/exports/orders/jobs",
        "/a b/exports/orders/jobs",
        "/a\\b/exports/orders/jobs",
    ],
)
def test_only_a_prefix_of_plain_path_segments_is_taken(world, path):
    """Issue 25, tried: {"path": "//evil.example/exports/orders/jobs"} answered links
    beginning /%2Fevil.example/exports/jobs/..."""
    with deployed():
        job = start_job_as(Client(), world, {"stage": "prod", "path": path})
    assert job.status_code == 202, job.content
    assert all(link.startswith("/exports/jobs/") for link in job.json()["links"].values())


def test_x_forwarded_proto_is_trusted_from_the_adapter_only(world):
    with deployed():
        seen = {}
        for peer in ("127.0.0.1", "::1", HOSTILE_PEER):
            response = Client().get(
                "/exports/health",
                headers={"host": API_HOST, "x_forwarded_proto": "https"},
                REMOTE_ADDR=peer,
            )
            seen[peer] = response.wsgi_request.is_secure()
    assert seen == {"127.0.0.1": True, "::1": True, HOSTILE_PEER: False}


def test_the_adapters_client_address_is_the_last_forwarded_entry(world, audited):
    """uvicorn behind the adapter no longer rewrites REMOTE_ADDR (run.sh: no proxy headers):
    the middleware takes the entry API Gateway appended, from the adapter only."""
    url = sign_url("/exports/orders.ndjson", world["users"]["staff"], {"limit": 1})
    forwarded = {"host": API_HOST, "x_forwarded_for": "10.9.9.9, 198.51.100.7"}
    with deployed():
        for peer in ("127.0.0.1", HOSTILE_PEER):
            response = Client().get(url, headers=forwarded, REMOTE_ADDR=peer)
            b"".join(response.streaming_content)
    assert [row.client for row in audited()] == ["198.51.100.7", HOSTILE_PEER]


def test_gateway_settings_never_allow_every_amazonaws_host():
    """Without AWS_REGION the hosts were ".amazonaws.com": any bucket or API of anyone."""
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="AWS_REGION"):
        aws_settings.gateway_settings({"DJANGO_BEHIND_API_GATEWAY": "1"})


def test_the_middleware_off_lambda_is_a_warning_unless_said_so(monkeypatch):
    from stream_exports.aws import checks

    for name in ("AWS_LAMBDA_FUNCTION_NAME", "DJANGO_BEHIND_API_GATEWAY"):
        monkeypatch.delenv(name, raising=False)
    with override_settings(MIDDLEWARE=[aws_settings.MIDDLEWARE, *settings.MIDDLEWARE]):
        [warning] = checks.check_gateway_trust()
        assert warning.id == "stream_exports.W011"
        assert "not on AWS Lambda" in warning.msg
        monkeypatch.setenv("DJANGO_BEHIND_API_GATEWAY", "1")
        assert checks.check_gateway_trust() == []
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "app")
        monkeypatch.delenv("DJANGO_BEHIND_API_GATEWAY")
        assert checks.check_gateway_trust() == []
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    assert checks.check_gateway_trust() == []  # not installed: nothing to say


@pytest.mark.parametrize("context", ["[" * 5000, '{"path": ' * 3000, "\udcff", "null", "7"])
def test_a_request_context_that_is_no_object_is_no_prefix_and_no_error(world, context):
    """Issue 25: json.loads of a deeply nested value raises RecursionError, not ValueError."""
    with deployed():
        response = Client().get(
            "/exports/", headers={"host": API_HOST, "x_amzn_request_context": context}
        )
    assert response.status_code == 401
