"""``python -m deploy local``: run.sh as the adapter starts it, behind AWS's streaming limits."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import requests
from django.urls import reverse
from httpx_sse import connect_sse
from stream_exports_client import Download

from deploy.__main__ import main as deploy_main
from deploy.local import EXECUTE_API_HOST, MB, Limits
from stream_exports.links.signing import sign_url

from ..servers import ROOT, free_port, server_env


def test_the_limits_are_awss_and_scale_down_bytes_and_times_but_not_the_rate():
    limits = Limits()
    assert (limits.burst_bytes, limits.rate, limits.max_bytes) == (6 * MB, 2 * MB, 200 * MB)
    assert (limits.idle, limits.duration) == (300.0, 900.0)
    assert limits.earliest(6 * MB) == 0.0  # the burst leaves at once
    assert limits.earliest(10 * MB) == 2.0  # then 2 MB/s
    scaled = limits.scaled(100)
    assert (scaled.burst_bytes, scaled.max_bytes, scaled.rate) == (60_000, 2 * MB, 2 * MB)
    assert (scaled.idle, scaled.duration) == (3.0, 9.0)


@contextmanager
def deploy_local(
    world,
    tmp_path: Path,
    *options: str,
    port: int | None = None,
    env: dict[str, str] | None = None,
    **settings: object,
) -> Iterator[str]:
    """``python -m deploy local`` on the test database (``settings``: STREAM_EXPORTS,
    ``env``: more of its environment); yields the proxy's base URL (https with
    ``--tls-cert``)."""
    port, app_port = port or free_port(), free_port()
    command = [sys.executable, "-m", "deploy", "local", "--port", str(port)]
    command += ["--app-port", str(app_port), *options]
    environment = {
        **os.environ,
        **server_env(world, **settings),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **(env or {}),
    }
    log = (tmp_path / "local.log").open("wb")
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"{'https' if '--tls-cert' in options else 'http'}://127.0.0.1:{port}"
    stage = f"/{options[options.index('--stage') + 1]}" if "--stage" in options else ""
    try:
        deadline = time.monotonic() + 40
        while True:
            assert process.poll() is None, (tmp_path / "local.log").read_text()
            try:
                health = requests.get(base + stage + "/exports/health", timeout=1, verify=False)
                if health.ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "local.log").read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(15)
        log.close()


@pytest.mark.servers
def test_through_the_limits_a_cut_export_is_resumed_and_a_compressed_one_fits(
    world, signed, tmp_path
):
    # 50,000 rows are about 15 MB: cut at 5 MB uncompressed, whole compressed (2-2.5 MB).
    options = ("--burst-mb", "1", "--rate-mb", "40", "--max-mb", "5", "--idle", "20")
    with deploy_local(world, tmp_path, *options) as base:
        url = base + signed()
        plain = requests.get(url, headers={"Accept-Encoding": "identity"}, stream=True, timeout=60)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for _ in plain.iter_content(65536):
                pass
        plain.close()

        session = requests.Session()
        session.headers["Accept-Encoding"] = "identity"
        download = Download(url, session=session, backoff=0.05)
        ids = [record["id"] for _, record in download.lines()]
        assert ids == list(range(1, world["rows"] + 1))  # every row once, in order
        assert download.resumes >= 2

        compressed = Download(url, backoff=0.05)  # requests' default: zstd or gzip
        assert sum(1 for _ in compressed.lines()) == world["rows"]
        assert compressed.resumes == 0


@pytest.mark.servers
def test_an_idle_stream_is_cut_and_gateway_requests_cannot_start_lambda_jobs(world, tmp_path):
    queued = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}  # no worker: stays queued
    with deploy_local(world, tmp_path, "--idle", "1", **queued) as base:
        start = sign_url(reverse("stream_exports:jobs", args=["orders"]), world["users"]["staff"])
        job = requests.post(base + start, timeout=10).json()
        started = time.monotonic()
        with (
            requests.get(base + job["links"]["log"], stream=True, timeout=30) as log,
            pytest.raises(requests.exceptions.ChunkedEncodingError),
        ):
            for _ in log.iter_content(1024):
                pass
        assert 1 <= time.monotonic() - started < 10  # cut by the idle limit, not the end

        refused = requests.post(base + "/events", data=b"{}", timeout=10)
        assert refused.status_code == 403  # the gateway's request context is not Lambda's own
        assert "API Gateway" in refused.json()["error"]


def sse_events(url: str) -> list[tuple[str, dict]]:
    """(event, data) until ``done``."""
    seen = []
    with httpx.Client(timeout=60) as client, connect_sse(client, "GET", url) as source:
        for event in source.iter_sse():
            seen.append((event.event, json.loads(event.data)))
            if event.event == "done":
                break
    return seen


@pytest.mark.servers
@pytest.mark.parametrize("stage", ["prod", None], ids=["execute-api", "custom-domain"])
def test_as_the_gateway_calls_it_exports_jobs_links_and_downloads_work(
    world, tmp_path, stage, capsys
):
    """The client's URLs have ``/prod`` (execute-api) or no prefix (a custom domain); the
    app gets the path without it, and every link it answers with carries it."""
    prefix = f"/{stage}" if stage else ""
    options = ("--stage", stage) if stage else ()
    staff = world["users"]["staff"]
    with deploy_local(world, tmp_path, *options) as origin:
        base = origin + prefix
        if stage:  # the gateway has nothing outside the stage
            assert requests.get(origin + "/exports/health", timeout=10).status_code == 403
        export = requests.get(base + sign_url("/exports/orders.ndjson", staff, {"limit": 100}))
        assert export.status_code == 200, export.text
        lines = export.text.splitlines()
        assert len(lines) == 101 and '"status":"complete"' in lines[-1]

        start = requests.post(base + sign_url("/exports/orders/jobs", staff, {"limit": 300}))
        assert start.status_code == 202, start.text
        links = start.json()["links"]
        assert all(link.startswith(prefix + "/exports/jobs/") for link in links.values()), links
        events = sse_events(origin + links["events"])
        assert events[-1][1]["status"] == "succeeded", events
        log = requests.get(origin + links["log"], timeout=30).text.splitlines()
        assert "succeeded: 300 rows" in log[-1]
        download = requests.get(origin + links["download"], timeout=30)
        assert download.status_code == 200, download.text
        assert len(download.text.splitlines()) == 301

        admin = requests.get(base + "/admin/", allow_redirects=False, timeout=10)
        assert admin.headers["Location"] == f"{prefix}/admin/login/?next={prefix}/admin/"

        # what `manage.py export_url` prints (no prefix), after the deployed base URL
        assert deploy_main(["verify", base + sign_url("/exports/orders.ndjson", staff)]) == 0
    assert "OK: streamed" in capsys.readouterr().out


@pytest.mark.servers
@pytest.mark.parametrize("stage", ["prod", None], ids=["execute-api", "custom-domain"])
def test_a_session_post_with_the_gateways_origin_gets_past_csrf(world, tmp_path, stage):
    """Django sees https only because it trusts the gateway's X-Forwarded-Proto: the admin's
    login (a session POST, CSRF-checked) passes with ``Origin: https://<host>``."""
    prefix = f"/{stage}" if stage else ""
    options = ("--stage", stage) if stage else ()
    host = EXECUTE_API_HOST if stage else "exports.example.com"
    with deploy_local(world, tmp_path, *options) as origin:
        login = f"{origin}{prefix}/admin/login/"
        page = requests.get(login, timeout=10)
        assert "Secure" in page.headers["Set-Cookie"]  # cookies only over HTTPS
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text
        # requests keeps Secure cookies off plain http: send it as the browser over https does
        cookie = f"csrftoken={page.cookies['csrftoken']}"
        form = {"username": "root", "password": "pw", "csrfmiddlewaretoken": token[1]}
        form["next"] = f"{prefix}/admin/"
        headers = {"Origin": f"https://{host}", "Cookie": cookie}
        signed_in = requests.post(login, form, headers=headers, allow_redirects=False, timeout=10)
        assert signed_in.status_code == 302, signed_in.text
        assert signed_in.headers["Location"] == f"{prefix}/admin/"
        elsewhere = {**headers, "Origin": "https://evil.example"}
        assert requests.post(login, form, headers=elsewhere, timeout=10).status_code == 403


@pytest.mark.servers
def test_a_preflight_through_the_gateway_is_answered_for_an_allowed_origin(
    world, tmp_path, monkeypatch
):
    """API Gateway hands ``OPTIONS`` to the function like any method; the app answers it."""
    monkeypatch.setenv("DJANGO_CORS_ALLOWED_ORIGINS", "https://app.example.com")
    path = sign_url(reverse("stream_exports:ndjson", args=["orders"]), world["users"]["staff"])
    with deploy_local(world, tmp_path, "--stage", "prod") as origin:
        headers = {
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id",
        }
        answer = requests.options(f"{origin}/prod{path}", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        refused = {**headers, "Origin": "https://evil.example"}
        answer = requests.options(f"{origin}/prod{path}", headers=refused, timeout=10)
        assert "Access-Control-Allow-Origin" not in answer.headers


def test_a_client_sent_request_context_is_dropped_as_the_adapter_does():
    """The adapter builds x-amzn-request-context from API Gateway's event; a client's own
    never reaches the app (and X-Forwarded-* are the gateway's)."""
    from deploy.local import LimitsProxy

    proxy = LimitsProxy("http://127.0.0.1:1", Limits(), stage="prod")
    forged = json.dumps({"stage": "prod", "path": "//evil.example/exports/"}).encode()
    scope = {
        "path": "/prod/exports/",
        "method": "GET",
        "client": ("203.0.113.9", 5000),
        "headers": [
            (b"X-Amzn-Request-Context", forged),
            (b"x-forwarded-proto", b"http"),
            (b"x-forwarded-for", b"10.0.0.1"),
            (b"accept", b"*/*"),
        ],
    }
    headers = proxy.forwarded_headers(scope)
    contexts = [value for name, value in headers if name.lower() == b"x-amzn-request-context"]
    assert [json.loads(value)["path"] for value in contexts] == ["/prod/exports/"]
    assert [v for k, v in headers if k.lower() == b"x-forwarded-proto"] == [b"https"]
    assert [v for k, v in headers if k.lower() == b"x-forwarded-for"] == [b"203.0.113.9"]
    assert (b"accept", b"*/*") in headers
