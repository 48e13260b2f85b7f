"""Schemathesis fuzzes the exports API from its own OpenAPI document, on real servers
(gunicorn and uvicorn): every operation the document has, jobs and revoke included.

As a user of its own ("fuzz", a session with its CSRF token, so POSTs pass as a browser's),
at most ``EXAMPLES`` generated requests per operation plus schemathesis's boundary cases.
The job paths name a finished job of that user (whose events, log and download end); the
job start is also posted with a signed URL made for it (replayed, it answers with its job;
with any other parameter, a 403). ``limit`` is made required and small so each request
streams few rows. No answer may be a 5xx, and every answer must conform to the document
(status, media type, JSON schema, headers).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.conf import settings
from django.test import Client

from stream_exports.core.datasets import registry
from stream_exports.jobs.lifecycle import create_job
from stream_exports.jobs.worker import run_job
from stream_exports.links.signing import sign_url
from stream_exports.models import ExportJob

#: Generated requests per operation (schemathesis's ``--max-examples``).
EXAMPLES = 40
#: A CSRF secret of the fuzzing session's: the cookie and the header the same.
CSRF = "f" * 32


#: The signed job start's limit: what schemathesis sends it, so that some starts verify.
SIGNED_LIMIT = 5


def bounded(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with ``limit`` required and at most 200 (each request small); the job start's
    is the signed URL's."""
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "limit":
                    parameter["required"] = True
                    parameter["schema"]["maximum"] = 200
                    if operation["operationId"] == "start_job_orders":
                        parameter["schema"] = {"type": "integer", "enum": [SIGNED_LIMIT]}
    return spec


def operations(spec: dict[str, Any]) -> list[str]:
    return [op["operationId"] for item in spec["paths"].values() for op in item.values()]


@pytest.fixture
def fuzzer(exporter, django_db_blocker):
    """The user that fuzzes: a session cookie, a finished job, a signed job start."""
    user = exporter("fuzz")
    with django_db_blocker.unblock():
        job = create_job(registry.get("orders"), {"limit": "3"}, user)
        run_job(job.pk)
        client = Client()
        client.force_login(user)
        start = sign_url("/exports/orders/jobs", user, {"limit": SIGNED_LIMIT})
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}; csrftoken={CSRF}"
    yield {"cookie": cookie, "job": str(job.pk), "start_sig": parse_qs(urlsplit(start).query)}
    with django_db_blocker.unblock():
        ExportJob.objects.filter(owner=user).delete()


def config(fuzzer: dict[str, Any]) -> str:
    """schemathesis.toml: the job paths on the fuzzer's job; the start also signed."""
    sig = fuzzer["start_sig"]["sig"][0]
    return (
        f'[parameters]\n"path.job_id" = "{fuzzer["job"]}"\n\n'
        f'[[operations]]\ninclude-operation-id = "start_job_orders"\n'
        f'parameters = {{ "query.sig" = "{sig}" }}\n'
    )


@pytest.mark.fuzz
def test_schemathesis_finds_no_5xx_and_no_nonconforming_answer_on_any_operation(
    server, fuzzer, tmp_path
):
    headers = {"Cookie": fuzzer["cookie"]}
    spec = httpx.get(f"{server.url}/exports/openapi.json", headers=headers, timeout=30).json()
    every = operations(spec)
    assert {"start_job_orders", "revoke_links", "job_events", "job_cancel"} <= set(every)
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(bounded(spec)))
    (tmp_path / "schemathesis.toml").write_text(config(fuzzer))
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(schema),
            "--url", server.url,
            "--header", f"Cookie: {fuzzer['cookie']}",
            "--header", f"X-CSRFToken: {CSRF}",
            "--max-examples", str(EXAMPLES),
            "--phases", "examples,coverage,fuzzing",
            "--checks", "not_a_server_error,status_code_conformance,"
            "content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--seed", "25",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=tmp_path,  # (its config, and its example database, are there)
    )  # fmt: skip
    print(done.stdout[-4000:])
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert re.search(rf"Operations:\s+{len(every)} selected", done.stdout), done.stdout[-2000:]
    generated, passed = re.search(r"(\d+) generated, (\d+) passed", done.stdout).groups()
    assert int(generated) >= len(every) * 5 and passed == generated
