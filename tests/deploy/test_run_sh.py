"""``deploy/run.sh`` serves a streaming export exactly as Lambda Web Adapter starts it."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from deploy.__main__ import main as deploy_main
from stream_exports.links.signing import sign_url

from ..conftest import server_env
from ..servers import ROOT, as_the_adapter_starts_it, streamed_lines


@pytest.mark.servers
def test_run_sh_serves_a_streaming_export_as_the_adapter_starts_it(world, tmp_path, capsys):
    # Lambda's python has the packaged dependencies; here, the test's interpreter.
    env = {**server_env(world), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with as_the_adapter_starts_it(ROOT, env, tmp_path / "run.log") as base:
        warm = sign_url("/exports/orders.ndjson", world["users"]["staff"], {"limit": 1})
        streamed_lines(base + warm)  # imports, the first connection: no cold start timed
        path = sign_url("/exports/orders.ndjson", world["users"]["staff"], {})
        lines, arrivals = streamed_lines(base + path)
        assert deploy_main(["verify", base + path]) == 0
    assert json.loads(lines[-1])["_stream"]["status"] == "complete"
    assert arrivals[0] < arrivals[-1] / 5
    assert "OK: streamed" in capsys.readouterr().out


#: What a cold start serving an export has no use for: the S3 backend of job files (its
#: first job file imports it), Django's test tools (the admin's changelist jobs import them
#: when they run), the servers' protocols run.sh turns off (uvloop, httptools, WebSockets),
#: and the zip writer of XLSX files with the cryptography under it (its first workbook).
UNNEEDED = ("boto3", "botocore", "s3transfer", "storages.backends.s3", "django.test", "jinja2")
UNNEEDED += ("uvloop", "httptools", "websockets", "wsproto", "stream_zip", "Crypto")


@pytest.mark.servers
def test_a_cold_start_imports_nothing_its_first_export_does_not_need(world, tmp_path):
    env = {
        **server_env(
            world,
            JOB_STORAGE="jobs",
            JOB_RUNNER="stream_exports.runners.LambdaRunner",
            JOB_LAMBDA_FUNCTION="jobs",
        ),
        "EXPORTS_BUCKET": "exports",  # job files on S3, as on Lambda (never reached here)
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPROFILEIMPORTTIME": "1",  # every import, on stderr
    }
    log = tmp_path / "run.log"
    with as_the_adapter_starts_it(ROOT, env, log) as base:
        path = sign_url("/exports/orders.ndjson", world["users"]["staff"], {"limit": 10})
        lines, _ = streamed_lines(base + path)
    assert json.loads(lines[-1])["_stream"]["status"] == "complete"
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)$", log.read_text(), re.M))
    assert "stream_exports.http.views" in imported
    assert not {name for name in imported if name.startswith(UNNEEDED)}
