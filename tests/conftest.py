"""Fixtures: a seeded test database, users, signed URLs and real servers on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
import requests
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.urls import reverse

from stream_exports.links.signing import sign_url

from .mail import Mailbox, smtp_server, smtp_settings
from .replica import replica, standby
from .servers import Server, database_url, run_server, server_env
from .testapp.seed import seed

# The streaming standby's fixtures (tests/replica.py); server_env: tests that start servers
# of their own import it from here.
__all__ = ["replica", "server_env", "standby"]

#: Orders seeded once per session, committed, shared by every test (read-only). About
#: 15 MB as NDJSON: a whole export outlasts its first line many times over and outgrows
#: loopback's socket buffers (so a client that stops reading stops the server), yet
#: costs little enough to export in many tests.
ROWS = 50_000


@pytest.fixture(scope="session")
def django_db_setup(request: pytest.FixtureRequest, django_test_environment, django_db_blocker):
    """The test database, always: server tests use it without the ``db`` fixture.

    (pytest-django creates it only when a collected test asks for ``db``, and
    the seeded session data would otherwise land in the development database.)
    """
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        end_other_sessions()
        teardown_databases(config, verbosity=0)


def end_other_sessions() -> None:
    """Before the test database is dropped: end the PostgreSQL sessions still on it.

    Django's test clients leave ``close_old_connections`` out of a request's end, so the
    connections that requests served in other threads opened (the thread an async test
    runs sync code in, a request's own under ``AsyncClient``) are still open, idle; and
    PostgreSQL refuses to drop a database anyone is on. (A served request's are closed
    by ``request_finished``.)"""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def world(django_db_setup: None, django_db_blocker: Any) -> dict[str, Any]:
    """ROWS orders and the users the tests act as, committed for servers to see."""
    settings_dict = connection.settings_dict
    assert settings_dict["NAME"] == settings_dict["TEST"]["NAME"], "not the test database"
    with django_db_blocker.unblock():
        seed(ROWS)
        view_order = Permission.objects.get(codename="view_order")
        staff = User.objects.create_user("staff", password="pw", is_staff=True)
        staff.user_permissions.add(view_order)
        users = {
            "staff": staff,
            "staff_without_perm": User.objects.create_user("nope", password="pw", is_staff=True),
            "plain": User.objects.create_user("plain", password="pw"),
            "superuser": User.objects.create_superuser("root", password="pw"),
        }
        return {
            "rows": ROWS,
            "users": users,
            "db_url": database_url(connection.settings_dict),
            "redis": bool(os.environ.get("REDIS_URL")),
        }


@pytest.fixture
def postgres(world: dict[str, Any]) -> None:
    """Skip on other databases: for what only PostgreSQL has (COPY, psycopg's loaders)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")


@pytest.fixture
def mariadb(world: dict[str, Any]) -> None:
    """Skip on other databases: for what only MariaDB has (its lines written by the database)."""
    if connection.vendor != "mysql" or not connection.mysql_is_mariadb:
        pytest.skip("MariaDB only")


@pytest.fixture
def sessions_seen(world: dict[str, Any]) -> None:
    """Skip on SQLite: for what needs the database's sessions (tests/sessions.py)."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite is a file: no sessions to see or cut from outside")


@pytest.fixture(scope="module")
def staff_session(django_db_blocker, world):
    """A test client signed in as "staff" (one login per module)."""
    from django.test import Client

    with django_db_blocker.unblock():
        client = Client()
        client.force_login(world["users"]["staff"])
        return client


@pytest.fixture
def committed_jobs(world, django_db_blocker, settings, tmp_path):
    """Autocommit, like production: a job's progress thread writes on its own connection
    and must see the job (a test transaction would hide it). Jobs (and stream leases) are
    removed before (servers of earlier tests commit jobs of theirs) and after; their files
    go to ``tmp_path``. Jobs stay queued unless a test picks a runner."""
    from stream_exports.models import ExportJob, StreamLease

    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    settings.MEDIA_ROOT = tmp_path
    with django_db_blocker.unblock():
        ExportJob.objects.all().delete()
        yield
        ExportJob.objects.all().delete()
        StreamLease.objects.all().delete()  # (streams a test left open hold no place after it)


@pytest.fixture
def mailbox(settings) -> Iterator[Mailbox]:
    """A real SMTP server on loopback, and this process's mail sent to it."""
    with smtp_server() as box:
        for name, value in smtp_settings(box.port).items():
            setattr(settings, name, value)
        yield box


@pytest.fixture
def fails_after_first_batch(monkeypatch) -> None:
    """The ORM path reads one batch, then fails ("disk on fire")."""
    from stream_exports.core import readers

    def failing(real):
        def read(plan, chunk_size):
            with closing(real(plan, chunk_size)) as batches:
                yield next(batches)
                raise RuntimeError("disk on fire")

        return read

    for name in ("streamed_batches", "cursor_batches", "keyset_batches"):
        monkeypatch.setattr(readers, name, failing(getattr(readers, name)))


@pytest.fixture
def signed(world: dict[str, Any]):
    """``signed(params, user="staff", name="orders", format="ndjson")`` -> a signed export
    path."""

    def make(
        params: dict[str, Any] | None = None,
        user: str = "staff",
        name: str = "orders",
        format: str = "ndjson",
    ) -> str:
        path = reverse(f"stream_exports:{format}", args=[name])
        return sign_url(path, world["users"][user], params or {})

    return make


@pytest.fixture
def exporter(world, django_db_blocker):
    """``exporter(name)`` -> a new staff user who may export orders, for tests that change
    a user's password, rights or links (the shared users stay as they are). In a ``db``
    test it is rolled back; elsewhere committed (servers see it), and deleted after."""
    made = []

    def make(name: str) -> User:
        with django_db_blocker.unblock():
            user = User.objects.create_user(name, password="pw", is_staff=True)
            user.user_permissions.add(Permission.objects.get(codename="view_order"))
        made.append(user.pk)
        return user

    yield make
    with django_db_blocker.unblock():
        User.objects.filter(pk__in=made).delete()


@pytest.fixture
def cookie_of(world: dict[str, Any], django_db_blocker: Any):
    """``cookie_of("staff")`` -> a ``Cookie`` header of a session signed in as that user,
    for requests to real servers."""
    from django.conf import settings
    from django.test import Client

    def cookie(user: str) -> str:
        with django_db_blocker.unblock():
            client = Client()
            client.force_login(world["users"][user])
        return (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )

    return cookie


@pytest.fixture
def audited(world, django_db_blocker):
    """``audited(**match)`` -> the audit rows written since the test began (oldest first),
    committed ones included (servers, jobs); those are deleted after."""
    from stream_exports.models import AuditRecord

    with django_db_blocker.unblock():
        before = AuditRecord.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def since(**match: Any) -> list[AuditRecord]:
        with django_db_blocker.unblock():
            return list(AuditRecord.objects.filter(pk__gt=before, **match).order_by("pk"))

    yield since
    with django_db_blocker.unblock():
        AuditRecord.objects.filter(pk__gt=before).delete()


@pytest.fixture(scope="session", params=["gunicorn", "uvicorn"])
def server(
    request: pytest.FixtureRequest, world: dict[str, Any], tmp_path_factory
) -> Iterator[Server]:
    """Each real server in turn, serving the test database, warmed by a first export
    (imports, the first database connection) so that no test times a cold start.

    Progress every 50 ms: a job over the test rows takes well under a second on
    PostgreSQL, and the tests watch its progress arrive."""
    env = server_env(world, JOB_PROGRESS_INTERVAL=0.05)
    with run_server(request.param, env, tmp_path_factory.mktemp("servers")) as running:
        path = reverse("stream_exports:ndjson", args=["orders"])
        one_row = sign_url(path, world["users"]["staff"], {"limit": 1})
        requests.get(running.url + one_row, timeout=60).raise_for_status()
        yield running
