"""Faults that need a PostgreSQL of their own: the server restarted mid-export.

A private cluster (``initdb`` on a free port, as the ``postgres`` user) is restarted
while the Python client downloads from a real server; the shared database of the
other tests is never touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from stream_exports_client import Download, Timeouts

from stream_exports.http.access import sign_url

from ..servers import ROOT, free_port, manage, run_server, server_env

pytestmark = pytest.mark.servers
ROWS = 100_000
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
#: Orders and a staff user who may export them, on the private cluster; prints the user's id.
SEED = (
    "from django.contrib.auth.models import Permission, User; "
    "from tests.testapp.seed import seed; "
    f"seed({ROWS}); "
    "u = User.objects.create_user('fault', is_staff=True); "
    "u.user_permissions.add(Permission.objects.get(codename='view_order')); print(u.pk)"
)


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster, run by the ``postgres`` user."""

    data: Path
    port: int
    staff_id: int = 0

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
        subprocess.run(
            [
                *("runuser", "-u", "postgres", "--", f"{BINARIES[-1]}/pg_ctl"),
                *("-D", str(self.data), "-l", str(self.data / "log"), "-w", "-o", options),
                *args,
            ],
            check=True,
            capture_output=True,
        )


@pytest.fixture(scope="module")
def cluster(world) -> Iterator[Cluster]:
    if not world["db_url"].startswith("postgres"):
        pytest.skip("a PostgreSQL fault (the run on PostgreSQL has it)")
    if not BINARIES or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL's binaries and root (to run them as postgres)")
    home = Path(tempfile.mkdtemp(prefix="se-cluster-"))
    shutil.chown(home, "postgres")
    cluster = Cluster(home / "data", free_port())
    initdb = [f"{BINARIES[-1]}/initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust"]
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *initdb, "--no-sync"], check=True, capture_output=True
    )
    cluster.pg_ctl("start")
    try:
        env = {
            **os.environ,
            "DATABASE_URL": cluster.url,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
        }
        subprocess.run(manage("migrate", "-v0"), cwd=ROOT, env=env, check=True, capture_output=True)
        seeded = subprocess.run(
            manage("shell", "-v0", "-c", SEED), cwd=ROOT, env=env, check=True, capture_output=True
        )
        cluster.staff_id = int(seeded.stdout)
        yield cluster
    finally:
        cluster.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_postgres_restarted_mid_export_the_client_gets_every_row_once(
    cluster, world, tmp_path, kind
):
    user = SimpleNamespace(pk=cluster.staff_id)
    env = {**server_env(world), "DATABASE_URL": cluster.url}
    with run_server(kind, env, tmp_path) as server:
        url = server.url + sign_url("/exports/orders.ndjson", user, {})
        download = Download(url, retries=8, backoff=0.25, timeouts=Timeouts(between_lines=30))
        ids = []
        for _, record in download.lines():
            ids.append(record["id"])
            if len(ids) == 1:
                cluster.pg_ctl("restart", "-m", "fast")  # every backend is terminated
        log = server.log.read_text()
    assert ids == list(range(1, ROWS + 1))  # none lost, none twice, in order
    assert download.resumes >= 1
    assert "failed after" in log  # the server logged the cut it put in the trailer
