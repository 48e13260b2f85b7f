"""The Lambda package of the demo (``python -m deploy package``) runs on a bare Python."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile

import pytest
import requests

from deploy import package
from deploy.package import LAMBDA_PYTHON, lambda_python
from stream_exports.links.signing import sign_url
from tests.servers import as_the_adapter_starts_it, streamed_lines

from .conftest import server_env

pytestmark = pytest.mark.once  # (the package is built the same whatever the database)


@pytest.mark.servers
def test_the_package_runs_on_a_bare_python_as_lambda_would(demo, tmp_path):
    if demo["db_url"].startswith("mysql"):
        pytest.skip(
            "the Lambda package holds PostgreSQL's driver (psycopg) only: mysqlclient needs "
            "libmariadb, which Lambda's Python lacks"
        )
    built = package.build(tmp_path / "build")
    task_root = tmp_path / "task"
    with zipfile.ZipFile(built) as archive:
        assert archive.getinfo("deploy/run.sh").external_attr >> 16 == 0o100755
        names = set(archive.namelist())
        archive.extractall(task_root)
    assert {"manage.py", "project/settings.py", "stream_exports/http/views.py"} <= names
    assert any(n.startswith("psycopg_binary/") and "x86_64-linux-gnu.so" in n for n in names)
    assert not any(n.startswith(("tests/", ".venv/", "bench/", "project/tests/")) for n in names)
    # Every module's bytecode, for Lambda's Python, valid whatever the sources' timestamps.
    tag = f"cpython-{LAMBDA_PYTHON.replace('.', '')}"
    sources = [n for n in names if n.endswith(".py")]
    assert sources and all(bytecode_of(n, tag) in names for n in sources)
    with zipfile.ZipFile(built) as archive:
        header = archive.read(bytecode_of("project/settings.py", tag))[:8]
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, source unchecked
    # Lambda's Python has no site-packages of ours: a venv without packages stands in.
    # /var/task is read-only there: Python writes no bytecode (it reads the package's).
    bare = tmp_path / "bare"
    subprocess.run([lambda_python(), "-m", "venv", "--without-pip", str(bare)], check=True)
    env = {
        **server_env(demo),
        "PATH": f"{bare / 'bin'}:{os.environ['PATH']}",
        "PYTHONPATH": "",
        "DJANGO_SETTINGS_MODULE": "project.settings",  # as the template leaves it
        "DJANGO_SERVE_STATIC": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with as_the_adapter_starts_it(task_root, env, tmp_path / "run.log") as base:
        path = sign_url("/exports/orders.ndjson", demo["user"], {"limit": "50000"})
        lines, _ = streamed_lines(base + path)
        # The live job page's script, served with DEBUG off (WhiteNoise).
        script = requests.get(f"{base}/static/stream_exports/job.js", timeout=10)
        assert script.status_code == 200 and "EventSource" in script.text
    assert len(lines) == 50001
    assert json.loads(lines[-1])["_stream"]["status"] == "complete"


def test_the_package_is_the_same_zip_each_build(tmp_path):
    first = package.build(tmp_path / "first")
    assert package.build(tmp_path / "second").name == first.name


def bytecode_of(source: str, tag: str) -> str:
    """The path of ``source``'s bytecode (``a/b.py`` -> ``a/__pycache__/b.<tag>.pyc``)."""
    folder, _, name = source.rpartition("/")
    return f"{folder}/__pycache__/{name[:-3]}.{tag}.pyc".lstrip("/")
