"""Schemathesis fuzzes the exports API from its own OpenAPI document, on real servers.

Bounded: the dataset listing and the orders exports (NDJSON and CSV), at most
``EXAMPLES`` generated requests each, plus schemathesis's boundary cases; ``limit``
is made required and small so each request streams few rows. No answer may be a 5xx,
and every answer must conform to the document (status, media type, JSON schema).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

#: Generated requests per operation (schemathesis's ``--max-examples``).
EXAMPLES = 50
OPERATIONS = r"^/exports/(orders\.(ndjson|csv))?$"


def bounded(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with ``limit`` required and at most 200 on the exports (each request small)."""
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "limit":
                    parameter["required"] = True
                    parameter["schema"]["maximum"] = 200
    return spec


@pytest.fixture
def session_cookie(cookie_of: Any) -> str:
    return cookie_of("staff")


def test_schemathesis_finds_no_5xx_and_no_nonconforming_answer(server, session_cookie, tmp_path):
    headers = {"Cookie": session_cookie}
    spec = httpx.get(f"{server.url}/exports/openapi.json", headers=headers, timeout=30).json()
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(bounded(spec)))
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(schema),
            "--url", server.url,
            "--header", f"Cookie: {session_cookie}",
            "--include-path-regex", OPERATIONS,
            "--max-examples", str(EXAMPLES),
            "--phases", "examples,coverage,fuzzing",
            "--checks", "not_a_server_error,status_code_conformance,"
            "content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--seed", "15",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,  # (its example database stays there)
    )  # fmt: skip
    print(done.stdout[-4000:])
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert re.search(r"Operations:\s+3 selected", done.stdout), done.stdout[-2000:]
    generated, passed = re.search(r"(\d+) generated, (\d+) passed", done.stdout).groups()
    assert int(generated) >= 3 * EXAMPLES and passed == generated
