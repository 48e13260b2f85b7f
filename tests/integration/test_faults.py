"""Faults that need a database server of their own: the server restarted mid-export.

A private server of the kind the run is on (PostgreSQL: ``initdb`` on a free port, as
the ``postgres`` user; MariaDB: ``mariadb-install-db``, ``mariadbd`` as ``mysql``) is
restarted while the Python client downloads from a real server; the shared database of
the other tests is never touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from stream_exports_client import Download, Timeouts

from ..servers import ROOT, free_port, manage, run_server, server_env

pytestmark = pytest.mark.servers
ROWS = 100_000
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
MARIADBD = shutil.which("mariadbd", path=f"/usr/sbin:{os.environ.get('PATH', '')}")
#: Orders and a staff user who may export them, on the private cluster; prints the user's id.
SEED = (
    "from django.contrib.auth.models import Permission, User; "
    "from tests.testapp.seed import seed; "
    f"seed({ROWS}); "
    "u = User.objects.create_user('fault', is_staff=True); "
    "u.user_permissions.add(Permission.objects.get(codename='view_order')); "
    "from stream_exports.links.signing import sign_url; "
    "print(sign_url('/exports/orders.ndjson', u))"
)


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster, run by the ``postgres`` user."""

    data: Path
    port: int
    link: str = ""  #: a signed export URL of the seeded staff user's (a path)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")  # every backend is terminated

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "immediate")

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


@dataclass
class MariaDB:
    """A throwaway MariaDB server, run by the ``mysql`` user (no grant tables: any user)."""

    home: Path
    port: int
    link: str = ""  #: a signed export URL of the seeded staff user's (a path)

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/faults"

    def start(self) -> None:
        subprocess.Popen(
            [
                *("runuser", "-u", "mysql", "--", str(MARIADBD), "--no-defaults"),
                f"--datadir={self.home / 'data'}", f"--socket={self.home / 'sock'}",
                f"--port={self.port}", "--bind-address=127.0.0.1", "--skip-grant-tables",
                "--skip-log-bin", "--innodb-buffer-pool-size=64M",
                f"--log-error={self.home / 'log'}", f"--pid-file={self.home / 'pid'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.admin("ping"):
            assert time.monotonic() < deadline, (self.home / "log").read_text()[-2000:]
            time.sleep(0.1)

    def admin(self, *args: str) -> bool:
        command = ["mariadb-admin", "-h", "127.0.0.1", "-P", str(self.port), "-u", "root", *args]
        return subprocess.run(command, capture_output=True).returncode == 0

    def stop(self) -> None:
        self.admin("shutdown")  # waits for the server to end

    def restart(self) -> None:
        self.stop()  # every session is cut
        self.start()


def private_postgres(home: Path) -> Cluster:
    """A new cluster in ``home``, started."""
    cluster = Cluster(home / "data", free_port())
    initdb = [f"{BINARIES[-1]}/initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust"]
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *initdb, "--no-sync"], check=True, capture_output=True
    )
    cluster.pg_ctl("start")
    return cluster


def private_mariadb(home: Path) -> MariaDB:
    """A new MariaDB server in ``home``, started, with an empty database ``faults``."""
    server = MariaDB(home, free_port())
    subprocess.run(
        [
            "mariadb-install-db", "--no-defaults", f"--datadir={home / 'data'}", "--user=mysql",
            "--auth-root-authentication-method=normal", "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server.start()
    subprocess.run(
        ["mariadb", "-h", "127.0.0.1", "-P", str(server.port), "-u", "root", "-e",
         "CREATE DATABASE faults CHARACTER SET utf8mb4"],
        check=True,
    )  # fmt: skip
    return server


@pytest.fixture(scope="module")
def cluster(world) -> Iterator[Cluster | MariaDB]:
    """A private server of the kind the run is on, migrated and seeded."""
    mariadb = world["db_url"].startswith("mysql")
    if not (mariadb or world["db_url"].startswith("postgres")):
        pytest.skip("a database server's fault (the runs on PostgreSQL and MariaDB have it)")
    owner = "mysql" if mariadb else "postgres"
    if not (MARIADBD if mariadb else BINARIES) or os.geteuid() != 0:
        pytest.skip(f"needs the database's binaries and root (to run them as {owner})")
    home = Path(tempfile.mkdtemp(prefix="se-cluster-"))
    shutil.chown(home, owner)
    server = private_mariadb(home) if mariadb else private_postgres(home)
    try:
        env = {
            **os.environ,
            "DATABASE_URL": server.url,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
        }
        subprocess.run(manage("migrate", "-v0"), cwd=ROOT, env=env, check=True, capture_output=True)
        seeded = subprocess.run(
            manage("shell", "-v0", "-c", SEED), cwd=ROOT, env=env, check=True, capture_output=True
        )
        server.link = seeded.stdout.decode().strip()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_database_restarted_mid_export_the_client_gets_every_row_once(
    cluster, world, tmp_path, kind
):
    env = {**server_env(world), "DATABASE_URL": cluster.url}
    with run_server(kind, env, tmp_path) as server:
        url = server.url + cluster.link
        download = Download(url, retries=8, backoff=0.25, timeouts=Timeouts(between_lines=30))
        ids = []
        for _, record in download.lines():
            ids.append(record["id"])
            if len(ids) == 1:
                cluster.restart()  # every session is cut
        log = server.log.read_text()
    assert ids == list(range(1, ROWS + 1))  # none lost, none twice, in order
    assert download.resumes >= 1
    assert "failed after" in log  # the server logged the cut it put in the trailer
