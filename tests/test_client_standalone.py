"""The client distribution stands alone: it imports and runs where Django cannot be imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stream_exports.core.formats.ndjson import trailer

from .servers import Reply, scripted_server

#: Runs the client's command (``python -m stream_exports_client ARGS``) in a Python
#: where importing Django or the Django app fails, as if neither were installed; any
#: attempt to import them, even one the client caught, fails the run (exit 99).
WITHOUT_DJANGO = """
import os, runpy, sys

BLOCKED = ("django", "stream_exports")
tried = []

class NoDjango:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            tried.append(name)
            raise ImportError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoDjango())
try:
    runpy.run_module("stream_exports_client", run_name="__main__", alter_sys=True)
finally:
    loaded = [name for name in sys.modules if name.split(".")[0] in BLOCKED]
    if tried or loaded:
        print(f"imported {tried or loaded}", file=sys.stderr, flush=True)
        os._exit(99)
"""


def without_django(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command with ``args``, isolated (``-I``: no checkout on the path) and Django blocked."""
    command = [sys.executable, "-I", "-c", WITHOUT_DJANGO, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd)


def test_the_command_shows_its_help_without_django(tmp_path: Path):
    done = without_django("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage: stream-exports" in done.stdout
    assert "download" in done.stdout and "start" in done.stdout


def test_the_command_downloads_an_export_without_django(tmp_path: Path):
    body = b'{"id":1,"note":"a"}\n{"id":2,"note":null}\n'
    with scripted_server(Reply(200, body + trailer(2, 2))) as (base, paths):
        out = tmp_path / "orders.ndjson"
        done = without_django(
            "download", f"{base}/exports/orders.ndjson", "-o", str(out), cwd=tmp_path
        )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == body
    assert "2 rows, 41 bytes, 0 resumes" in done.stderr
    assert paths == ["/exports/orders.ndjson"]


def test_the_blocker_would_catch_a_django_import(tmp_path: Path):
    code = WITHOUT_DJANGO.replace('"stream_exports_client"', '"django.conf"')
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 99
    assert "imported ['django" in done.stderr


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / "stream-exports"
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: stream-exports" in done.stdout
