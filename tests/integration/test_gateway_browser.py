"""The admin in a real headless Chromium at both URL shapes, over HTTPS: the execute-api
URL's ``https://<api>.execute-api.<region>.amazonaws.com/prod/...`` and a custom domain's
``https://exports.example.com/...``, served by ``python -m deploy local`` (TLS with a
certificate made here) as the gateway and Lambda Web Adapter call the app: sign in (the
CSRF origin check over HTTPS at the gateway), start a background export from the export
dialog, watch the live page, download the file."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import pytest

from ..deploy.test_local import deploy_local
from ..servers import free_port
from .browser import chromium, needs_chromium

pytestmark = [
    pytest.mark.servers,
    needs_chromium,
]

API_HOST = "abc123.execute-api.eu-west-1.amazonaws.com"
DOMAIN = "exports.example.com"


def certificate(tmp_path: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``host``."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}"),
            *("-addext", f"subjectAltName=DNS:{host}"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize(
    ("host", "stage"), [(API_HOST, "prod"), (DOMAIN, "")], ids=["execute-api", "custom-domain"]
)
def test_the_admin_works_at_both_url_shapes_over_https(world, tmp_path, host, stage):
    cert, key = certificate(tmp_path, host)
    port = free_port()
    options = ("--stage", stage) if stage else ()
    options += ("--host", f"{host}:{port}", "--tls-cert", str(cert), "--tls-key", str(key))
    with (
        warnings.catch_warnings(action="ignore"),  # (urllib3 on the self-signed certificate)
        # DEBUG: the admin's static files (its actions' JavaScript) from the app itself.
        deploy_local(world, tmp_path, *options, port=port, env={"DJANGO_DEBUG": "1"}),
        chromium(f"--host-resolver-rules=MAP {host} 127.0.0.1") as browser,
    ):
        page = browser.new_context(ignore_https_errors=True, accept_downloads=True).new_page()
        base = f"https://{host}:{port}" + (f"/{stage}" if stage else "")
        page.goto(f"{base}/admin/testapp/order/?paid__exact=1")
        page.wait_for_url(f"{base}/admin/login/**")  # the redirect keeps the stage
        page.fill("#id_username", "staff")
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/testapp/order/**")  # past CSRF, over HTTPS
        page.check("#action-toggle")
        page.click(".actions .question a")
        page.select_option("select[name=action]", "export_selected")
        page.click("button[name=index]")
        page.wait_for_url(f"{base}/admin/testapp/order/export/?**")  # the dialog
        page.check("input[name=format][value=ndjson]")
        page.check("input[name=mode][value=background]")
        page.click("#export-dialog input[type=submit]")  # a POST: CSRF over HTTPS again
        page.wait_for_url(f"{base}/admin/stream_exports/exportjob/*/change/")
        page.wait_for_selector('#export-job[data-status="succeeded"]', timeout=60_000)
        page.wait_for_function(
            "document.querySelector('[data-field=log]').textContent.includes('succeeded:')"
        )
        with page.expect_download() as download:
            page.click('[data-field="download"]')
        with open(download.value.path(), encoding="utf-8") as file:
            lines = [json.loads(line) for line in file]
        assert lines[-1]["_stream"]["status"] == "complete"
        assert lines[-1]["_stream"]["rows"] == len(lines) - 1 > 0
        assert all(line["paid"] for line in lines[:-1])
