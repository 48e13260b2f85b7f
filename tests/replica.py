"""A real PostgreSQL streaming standby of the primary at DATABASE_URL, on loopback.

``Standby`` copies the whole cluster with ``pg_basebackup -R`` into a directory of its
own under the temp dir, starts the copy with ``pg_ctl`` on a free loopback port as a hot
standby, and waits until the primary's ``pg_stat_replication`` shows it streaming. It
streams through a replication slot of its own, so that the primary keeps the WAL a
stopped standby needs to catch up. Closing it stops the server, drops the slot and
removes the directory, whatever happened before; a standby whose test process died
(kill -9) is stopped, removed and its slot dropped by the next one made on the machine.

The standby needs only what the primary's settings give already (``wal_level=replica``,
free ``max_wal_senders`` and ``max_replication_slots``) and a pg_hba.conf line that lets
a replication connection in from 127.0.0.1: ``all`` does not match those. .ci/run adds
that one line (and reloads) where it is missing; without it the ``standby`` fixture
skips, saying so. The server programs of the primary's major version are looked for
where Debian (``/usr/lib/postgresql/N/bin``), the PGDG RPMs and Homebrew put them, then
on PATH. As root, every server program runs as the ``postgres`` user (PostgreSQL refuses
root).

Fixtures: ``standby`` (module-scoped: one standby a module that asks, so each pytest-xdist
worker has its own, on its own port, directory and slot), which also gives Django the
alias ``"replica"`` (:data:`REPLICA`) on the standby's copy of the test database; and
``replica`` (per test), that alias, the standby running and replaying again after the test.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .servers import free_port

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "REPLICA",
    "Standby",
    "StandbyUnavailable",
    "database_alias",
    "primary_conninfo",
    "replica",
    "standby",
]

#: The Django alias the ``standby`` fixture gives the standby's copy of the test database.
REPLICA = "replica"

#: Directories, slots and application names of standbys start so (then owner pid, random).
PREFIX = "se_standby_"
#: Who runs the server programs when the tests run as root (PostgreSQL refuses root).
SERVER_USER = "postgres"
#: Hot standby refuses to start with any of these below the primary's.
_AT_LEAST_THE_PRIMARYS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)
_HBA_LINE = "host replication postgres 127.0.0.1/32 trust"


class StandbyUnavailable(Exception):
    """Why no standby of this primary can be made on this machine (a reason to skip)."""


class Standby:
    """A streaming standby of the primary at ``primary`` (a libpq conninfo or URL).

    Nothing happens until :meth:`create` (or ``with``); then the attributes are set:
    ``directory`` (``data/``, its config, log and socket), ``port``, ``name`` (its slot
    and application name) and ``timings`` (seconds: ``basebackup``, ``start``).
    ``settings`` are more postgresql.conf lines for the standby, e.g.
    ``{"max_standby_streaming_delay": "-1"}``.
    """

    def __init__(
        self,
        primary: str,
        *,
        settings: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.primary = make_conninfo(primary)
        self.settings = dict(settings or {})
        self.timeout = timeout
        self.name = f"{PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        self.directory: Path | None = None
        self.port = 0
        self.timings: dict[str, float] = {}
        self._bindir: Path | None = None
        self._server_settings: dict[str, str] = {}

    # -- making and closing ------------------------------------------------------------

    def __enter__(self) -> Standby:
        return self.create()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check(self) -> None:
        """Raise :class:`StandbyUnavailable` unless a standby of the primary can be made here."""
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise StandbyUnavailable(
                    f"running as root, and there is no {SERVER_USER!r} user to run the "
                    "PostgreSQL server programs as (they refuse root)"
                ) from None
            if not shutil.which("runuser"):
                raise StandbyUnavailable("running as root, and runuser (util-linux) is missing")
        with self._connect_primary() as conn:
            values = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                    [["server_version_num", "wal_level", *_AT_LEAST_THE_PRIMARYS]],
                ).fetchall()
            )
            senders, slots = conn.execute(
                "SELECT (SELECT count(*) FROM pg_stat_replication),"
                " current_setting('max_replication_slots')::int"
                " - (SELECT count(*) FROM pg_replication_slots)"
            ).fetchone() or (0, 0)
        major = int(values["server_version_num"]) // 10000
        if major < 14:
            raise StandbyUnavailable(f"PostgreSQL {major}: pausing replay needs 14 or newer")
        if values["wal_level"] not in ("replica", "logical"):
            raise StandbyUnavailable(
                f"the primary has wal_level={values['wal_level']} (a standby needs replica)"
            )
        # pg_basebackup streams WAL on a second connection while it copies.
        if int(values["max_wal_senders"]) - senders < 2:
            raise StandbyUnavailable(
                f"the primary's max_wal_senders={values['max_wal_senders']} are "
                f"{senders} in use: pg_basebackup needs 2 free"
            )
        if slots < 1:
            raise StandbyUnavailable("the primary has no free replication slot")
        self._bindir = server_bindir(major)
        try:
            with psycopg.connect(self.primary, replication="true", connect_timeout=10):
                pass
        except psycopg.OperationalError as error:
            raise StandbyUnavailable(
                "the primary refuses a replication connection from 127.0.0.1 "
                f"({str(error).strip()}); .ci/run adds {_HBA_LINE!r} as the first line of "
                "its pg_hba.conf (SHOW hba_file) and reloads"
            ) from None
        self._server_settings = {name: values[name] for name in _AT_LEAST_THE_PRIMARYS}

    def create(self) -> Standby:
        """Copy the primary, start the copy and wait until it streams; on failure, clean up."""
        self.check()
        sweep(self.primary)
        self.directory = Path(tempfile.mkdtemp(prefix=f"{self.name}_"))
        try:
            (self.directory / "owner").write_text(str(os.getpid()))
            self._give_to_server_user(self.directory)
            began = time.monotonic()
            self._run(
                "pg_basebackup",
                *("--dbname", self.primary),
                *("--pgdata", str(self.directory / "data")),
                "--write-recovery-conf",  # standby.signal, primary_conninfo
                *("--create-slot", "--slot", self.name),  # primary_slot_name
                *("--wal-method", "stream", "--checkpoint", "fast"),
                *("--no-sync", "--no-manifest", "--no-password"),
            )
            self.timings["basebackup"] = time.monotonic() - began
            self._write_config()
            for attempt in range(3):  # a free port may be taken before the server binds it
                self.port = free_port()
                try:
                    self.start()
                    break
                except RuntimeError:
                    if attempt == 2 or "could not bind" not in self.log():
                        raise
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop the server (immediate), drop the slot, remove the directory: each, always."""
        try:
            if self.directory and (self.directory / "data").exists():
                self.stop("immediate")
        finally:
            try:
                _drop_slot(self.primary, self.name, wait=10.0)
            finally:
                if self.directory:
                    shutil.rmtree(self.directory, ignore_errors=True)
                    self.directory = None

    # -- the server --------------------------------------------------------------------

    @property
    def dsn(self) -> str:
        """A libpq conninfo of the standby's ``postgres`` database (same user as the primary)."""
        return make_conninfo(self.primary, host="127.0.0.1", port=str(self.port), dbname="postgres")

    @property
    def running(self) -> bool:
        """Whether the standby's server is up (``pg_ctl status``)."""
        if not self.directory:
            return False
        status = self._run(
            "pg_ctl", "status", "--pgdata", str(self.directory / "data"), check=False
        )
        return status.returncode == 0

    def start(self) -> None:
        """Start the server (if stopped) and wait until it streams from the primary."""
        directory = self._directory()
        if self.running:
            return
        began = time.monotonic()
        self._run(
            "pg_ctl",
            "start",
            *("--pgdata", str(directory / "data"), "--log", str(directory / "log")),
            *("--wait", "--timeout", str(int(self.timeout))),
            *("-o", f"-c config_file={directory / 'postgresql.conf'} -p {self.port}"),
        )
        self.wait_streaming()
        self.timings["start"] = time.monotonic() - began

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "immediate") -> None:
        """Stop the server (``immediate``: as if it crashed) and wait until the primary's
        walsender for it is gone."""
        directory = self._directory()
        if not self.running:
            return
        self._run(
            "pg_ctl",
            "stop",
            *("--pgdata", str(directory / "data"), "--mode", mode),
            *("--wait", "--timeout", str(int(self.timeout))),
        )
        _until(lambda: self._walsender_state() is None, self.timeout, "the walsender to go")

    def wait_streaming(self, timeout: float | None = None) -> None:
        """Wait until ``pg_stat_replication`` on the primary shows the standby streaming."""
        _until(
            lambda: self._walsender_state() == "streaming",
            timeout or self.timeout,
            "the standby to stream",
            self.log,
        )

    def wait_caught_up(self, timeout: float = 10.0) -> None:
        """Wait until the standby has replayed all WAL the primary had written at the call."""
        with self._connect_primary() as conn:
            target = _one(conn, "SELECT pg_current_wal_lsn()::text")
        with self.connect() as conn:
            _until(
                lambda: _one(conn, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", target),
                timeout,
                f"replay to reach {target} (is replay paused?)",
            )

    def pause_replay(self) -> None:
        """Pause WAL replay (``pg_wal_replay_pause()``), as a lagging replica: WAL still
        arrives, but what the primary commits from now on stays unseen until resumed."""
        with self.connect() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            _until(
                lambda: _one(conn, "SELECT pg_get_wal_replay_pause_state()") == "paused",
                self.timeout,
                "replay to pause",
            )

    def resume_replay(self) -> None:
        """Resume WAL replay (a no-op if not paused; a restart resumes it too)."""
        with self.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """A new psycopg connection (autocommit) to ``dbname`` on the standby."""
        return psycopg.connect(self.dsn, dbname=dbname, autocommit=True, connect_timeout=10)

    def database_settings(
        self, name: str, options: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A Django ``DATABASES`` entry for the standby's copy of database ``name``.

        ``TEST["MIRROR"] = "default"`` tells Django's test machinery the data is
        default's, so it never creates, flushes or drops a database through this alias
        (the standby is read-only). Give it to Django after ``setup_databases()``
        (:func:`database_alias`): an alias in ``DATABASES`` at setup time that mirrors
        another is pointed at that other's settings, that is, at the primary.
        No pool, unless ``options`` (``OPTIONS``) asks for one.
        """
        primary = conninfo_to_dict(self.primary)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": primary.get("user") or "",
            "PASSWORD": primary.get("password") or "",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "CONN_MAX_AGE": 0,
            "OPTIONS": dict(options or {}),
            "TEST": {"MIRROR": "default"},
        }

    def log(self) -> str:
        """The standby server's log so far."""
        log = self.directory / "log" if self.directory else None
        return log.read_text(errors="replace") if log and log.exists() else ""

    # -- inside ------------------------------------------------------------------------

    def _directory(self) -> Path:
        if not self.directory:
            raise RuntimeError("the standby is not made (create() it, or use `with`)")
        return self.directory

    def _connect_primary(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.primary, autocommit=True, connect_timeout=10)

    def _walsender_state(self) -> str | None:
        with self._connect_primary() as conn:
            return _one(
                conn,
                "SELECT state FROM pg_stat_replication WHERE application_name = %s"
                " ORDER BY backend_start DESC LIMIT 1",
                self.name,
            )

    def _write_config(self) -> None:
        directory = self._directory()
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(directory),
            "hba_file": str(directory / "pg_hba.conf"),
            "ident_file": str(directory / "pg_ident.conf"),
            "hot_standby": "on",
            # The walreceiver's application_name, as pg_stat_replication shows it.
            "cluster_name": self.name,
            "fsync": "off",  # a throwaway copy
            "shared_buffers": "32MB",
            **self._server_settings,
            **self.settings,
        }
        files = {
            "postgresql.conf": "".join(
                f"{key} = '{str(value).replace(chr(39), chr(39) * 2)}'\n"
                for key, value in settings.items()
            ),
            "pg_hba.conf": "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            "pg_ident.conf": "",
        }
        for name, text in files.items():
            (directory / name).write_text(text)
            self._give_to_server_user(directory / name)

    def _give_to_server_user(self, path: Path) -> None:
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(path, user.pw_uid, user.pw_gid)

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if self._bindir is None:
            raise RuntimeError("check() first: no server programs found yet")
        done = _run_server_program(self._bindir / program, *args)
        if check and done.returncode:
            raise RuntimeError(
                f"{program} {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout}{done.stderr}\n{self.log()[-4000:]}"
            )
        return done


# -- fixtures ----------------------------------------------------------------------------


@contextmanager
def database_alias(alias: str, settings_dict: Mapping[str, Any]) -> Iterator[BaseDatabaseWrapper]:
    """Django's ``connections`` with ``alias`` (``settings_dict``, Django's defaults filled
    in) added: yields its connection; after, closes this thread's and removes the alias."""
    from django.db import DEFAULT_DB_ALIAS, connections

    if alias in connections.settings:
        raise ValueError(f"the database alias {alias!r} exists already")
    configured = {
        DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS],
        alias: {**settings_dict},
    }
    connections.settings[alias] = connections.configure_settings(configured)[alias]
    try:
        yield connections[alias]
    finally:
        for conn in connections.all(initialized_only=True):
            if conn.alias == alias:
                conn.close()
                del connections[alias]
        del connections.settings[alias]


def primary_conninfo(settings_dict: Mapping[str, Any]) -> str:
    """A libpq conninfo of the PostgreSQL server and database of a Django ``DATABASES`` entry."""
    keys = {
        "host": "HOST",
        "port": "PORT",
        "user": "USER",
        "password": "PASSWORD",
        "dbname": "NAME",
    }
    return make_conninfo(
        **{key: str(settings_dict[name]) for key, name in keys.items() if settings_dict.get(name)}
    )


@pytest.fixture(scope="module")
def standby(django_db_setup: None) -> Iterator[Standby]:
    """A streaming standby of the test database's server for the module, with Django's
    alias ``"replica"`` (:data:`REPLICA`) on its copy of the test database. Skips where
    DATABASE_URL is not PostgreSQL or no standby can be made (the reason says why)."""
    from django.db import connections

    default = connections["default"].settings_dict
    if default["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip(f"a streaming standby needs PostgreSQL, not {connections['default'].vendor}")
    made = Standby(primary_conninfo(default))
    try:
        made.check()
    except StandbyUnavailable as why:
        pytest.skip(f"no streaming standby: {why}")
    with made, database_alias(REPLICA, made.database_settings(default["NAME"])):
        yield made


@pytest.fixture
def replica(standby: Standby) -> Iterator[str]:
    """The alias ``"replica"`` for one test: the standby running and replaying before
    and after it (a test may stop it or pause replay), this thread's connection closed."""
    from django.db import connections

    standby.start()
    standby.resume_replay()
    yield REPLICA
    connections[REPLICA].close()
    standby.start()
    standby.resume_replay()


# -- the machine -------------------------------------------------------------------------


def server_bindir(major: int) -> Path:
    """The directory of PostgreSQL ``major``'s pg_ctl, pg_basebackup and postgres."""
    candidates = [
        Path(f"/usr/lib/postgresql/{major}/bin"),  # Debian, Ubuntu
        Path(f"/usr/pgsql-{major}/bin"),  # PGDG RPMs
        Path(f"/opt/homebrew/opt/postgresql@{major}/bin"),
        *(Path(found).parent for found in [shutil.which("pg_ctl")] if found),
    ]
    for bindir in candidates:
        programs = [bindir / name for name in ("pg_ctl", "pg_basebackup", "postgres")]
        if not all(os.access(program, os.X_OK) for program in programs):
            continue
        version = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
        ).stdout  # "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
        if version.split()[2:3] and version.split()[2].split(".")[0] == str(major):
            return bindir
    raise StandbyUnavailable(
        f"no PostgreSQL {major} server programs (pg_ctl, pg_basebackup, postgres) in "
        f"{', '.join(map(str, candidates))} (Debian: apt-get install postgresql-{major})"
    )


def sweep(primary: str) -> None:
    """Stop and remove the standbys whose test process is gone, and drop their slots."""
    for owner in Path(tempfile.gettempdir()).glob(f"{PREFIX}*/owner"):
        with suppress(OSError, ValueError, StandbyUnavailable):
            if _alive(int(owner.read_text())):
                continue
            data = owner.parent / "data"
            if (data / "postmaster.pid").exists():
                bindir = _bindir_of(data)
                _run_server_program(bindir / "pg_ctl", "stop", "-D", str(data), "-m", "immediate")
            shutil.rmtree(owner.parent, ignore_errors=True)
    with psycopg.connect(primary, autocommit=True, connect_timeout=10) as conn:
        slots = conn.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s",
            [PREFIX.replace("_", r"\_") + "%"],
        ).fetchall()
    for (slot,) in slots:
        owner = slot.removeprefix(PREFIX).split("_")[0]
        if owner.isdigit() and not _alive(int(owner)):
            _drop_slot(primary, slot, wait=2.0)


def _bindir_of(data: Path) -> Path:
    return server_bindir(int((data / "PG_VERSION").read_text().strip()))


def _drop_slot(primary: str, slot: str, wait: float) -> None:
    """Drop ``slot`` once no walsender uses it (if it exists)."""
    with psycopg.connect(primary, autocommit=True, connect_timeout=10) as conn:
        query = "SELECT active FROM pg_replication_slots WHERE slot_name = %s"
        with suppress(TimeoutError):
            _until(lambda: not _one(conn, query, slot), wait, f"slot {slot} to be let go")
        with suppress(psycopg.errors.UndefinedObject):
            conn.execute("SELECT pg_drop_replication_slot(%s)", [slot])


def _run_server_program(program: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL server program, as the ``postgres`` user when root."""
    command = [str(program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", SERVER_USER, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params or None).fetchone()
    return row[0] if row else None


def _until(
    done: Callable[[], object],
    timeout: float,
    what: str,
    detail: Callable[[], str] | None = None,
) -> None:
    """Poll ``done`` every 50 ms until true; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            more = f"\n{detail()[-4000:]}" if detail else ""
            raise TimeoutError(f"waited {timeout:.0f} s for {what}{more}")
        time.sleep(0.05)
