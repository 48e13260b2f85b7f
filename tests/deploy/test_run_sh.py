"""``deploy/run.sh`` serves a streaming export exactly as Lambda Web Adapter starts it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from deploy.__main__ import main as deploy_main
from stream_exports.http.access import sign_url

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
