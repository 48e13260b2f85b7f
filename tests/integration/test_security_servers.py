"""Security on real servers (WSGI and ASGI): signed links that a password change, a
deactivation, revoke-all or a retired key end (and only those); the audit rows of exports
that complete, are cut, fail and are refused; no ``sig`` value in any log of a session."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from stream_exports.core.datasets import registry
from stream_exports.jobs.lifecycle import create_job
from stream_exports.links.signing import sign_url
from stream_exports.models import AuditRecord, ExportJob, JobLogLine

from .. import security_session
from ..servers import run_server, server_env

pytestmark = pytest.mark.servers

EXPORT = "/exports/orders.ndjson"


def answer(base: str, url: str, method: str = "GET") -> tuple[int, str]:
    """(status, error message or "") of ``url`` on the server at ``base``."""
    response = httpx.request(method, base + url, timeout=60)
    return response.status_code, response.json()["error"] if response.status_code >= 400 else ""


OK = (200, "")
PASSWORD_CHANGED = (403, "signed URL ended when its user's password changed; ask for a new one.")
INACTIVE = (403, "signed URL's user no longer exists or is inactive.")


def test_password_change_deactivation_and_revoke_all_refuse_the_right_links(
    server, exporter, django_db_blocker
):
    eve, bob, carol = exporter("eve"), exporter("bob"), exporter("carol")
    with django_db_blocker.unblock():
        job = create_job(registry.get("orders"), {"limit": "1"}, eve)
        links = {user.username: sign_url(EXPORT, user, {"limit": 1}) for user in (eve, bob, carol)}
        eves_job = sign_url(f"/exports/jobs/{job.pk}", eve)
    assert [answer(server.url, url) for url in (*links.values(), eves_job)] == [OK] * 4

    with django_db_blocker.unblock():  # eve revokes all her links, with a signed link
        revoke = sign_url("/exports/links/revoke", eve)
    assert answer(server.url, revoke, "POST") == OK
    for url in (links["eve"], eves_job):
        status, error = answer(server.url, url)
        assert (status, error.split(" (")[0]) == (403, "signed URL was revoked")
    with django_db_blocker.unblock():
        fresh = sign_url(EXPORT, eve, {"limit": 1})
    assert answer(server.url, fresh) == OK

    with django_db_blocker.unblock():
        bob.set_password("a new one")
        bob.save()
    assert answer(server.url, links["bob"]) == PASSWORD_CHANGED

    with django_db_blocker.unblock():
        carol.is_active = False
        carol.save()
    assert answer(server.url, links["carol"]) == INACTIVE
    assert answer(server.url, fresh) == OK  # eve's new link: none of that was hers


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_a_rotated_key_keeps_its_links_while_it_is_a_fallback(
    kind, world, exporter, django_db_blocker, tmp_path
):
    """The project moves to a new key with the old one as fallback: links made with the old
    or the new key work, one made with a key retired before does not; once the fallback is
    removed, the old key's links stop too."""
    old, new, retired = settings.SECRET_KEY, "rotated-" + "n" * 50, "retired-" + "r" * 50
    eve = exporter("eve")
    with django_db_blocker.unblock():
        made_with = {"old": sign_url(EXPORT, eve, {"limit": 1})}
        for name, key in (("new", new), ("retired", retired)):
            with override_settings(SECRET_KEY=key):
                made_with[name] = sign_url(EXPORT, eve, {"limit": 1})
    bad_signature = (403, "signed URL is not valid (bad signature).")
    rotated = {"DJANGO_SECRET_KEY": new, "DJANGO_SECRET_KEY_FALLBACKS": old}
    with run_server(kind, {**server_env(world), **rotated}, tmp_path) as running:
        assert answer(running.url, made_with["old"]) == OK
        assert answer(running.url, made_with["new"]) == OK
        assert answer(running.url, made_with["retired"]) == bad_signature
    done = {"DJANGO_SECRET_KEY": new, "DJANGO_SECRET_KEY_FALLBACKS": ""}
    with run_server(kind, {**server_env(world), **done}, tmp_path) as running:
        assert answer(running.url, made_with["old"]) == bad_signature
        assert answer(running.url, made_with["new"]) == OK


@contextmanager
def an_export_that_fails(world: dict[str, Any], blocker: Any) -> Iterator[tuple[dict, Callable]]:
    """(params, break_it): an export with these params fails after its first chunk once
    ``break_it()`` is called. On SQLite a row no converter reads (an amount that is no
    number) comes right after the first rows; on PostgreSQL the export's backend is
    terminated, on MariaDB its connection killed (between two keyset pages)."""
    if connection.vendor == "sqlite":
        bad = world["rows"] + 1000
        insert = (
            "INSERT INTO testapp_order (id, customer, email, amount, quantity, created_at, paid, "
            "data, status) VALUES "
            "(%s, 'x', 'x@example.com', 'lots', 1, '2024-01-01 00:00:00', 0, '{}', 'placed')"
        )
        with blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(insert, [bad])
        try:
            yield {"after": world["rows"] - 3}, lambda: None
        finally:
            with blocker.unblock(), connection.cursor() as cursor:
                cursor.execute("DELETE FROM testapp_order WHERE id = %s", [bad])
        return

    def terminate() -> None:
        with blocker.unblock(), connection.cursor() as cursor:
            if connection.vendor == "mysql":
                cursor.execute(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                )
                for (session_id,) in cursor.fetchall():
                    cursor.execute(f"KILL {int(session_id)}")
                return
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "datname = current_database() AND pid <> pg_backend_pid() AND "
                "backend_type = 'client backend' AND state <> 'idle'"
            )

    yield {}, terminate


def ended(audited: Any, count: int) -> list[AuditRecord]:
    """The test's audit rows once ``count`` have ended (the server ends a cut one when it
    notices its client left)."""
    deadline = time.monotonic() + 20
    while True:
        rows = audited()
        if sum(row.outcome != "open" for row in rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_the_audit_rows_of_exports_that_complete_are_cut_fail_and_are_refused(
    server, world, audited, django_db_blocker
):
    staff = world["users"]["staff"]
    agent = {"User-Agent": "audit-test/1", "Accept-Encoding": "identity"}
    with (
        an_export_that_fails(world, django_db_blocker) as (failing, break_it),
        httpx.Client(base_url=server.url, timeout=60, headers=agent) as client,
    ):
        with django_db_blocker.unblock():
            whole, cut, broken = (
                sign_url(EXPORT, staff, params) for params in ({"limit": 321}, {}, failing)
            )
        with client.stream("GET", whole, headers={"Accept-Encoding": "gzip"}) as response:
            wire = b"".join(response.iter_raw())
        with client.stream("GET", cut) as response:
            next(response.iter_raw())  # then hang up in the middle of 15 MB (all fields)
        with client.stream("GET", broken) as response:
            chunks = response.iter_raw()
            body = next(chunks)
            break_it()
            body += b"".join(chunks)
        assert b'"status":"error"' in body
        # (A link that verified, changed: its user's refusal. Those of no known user are
        # counted per client and minute: test_attacks.)
        assert client.get(whole.replace("limit=321", "limit=1")).status_code == 403
    rows = ended(audited, 4)
    by_outcome = {row.outcome: row for row in rows}
    assert sorted(by_outcome) == ["complete", "cut", "failed", "refused"], rows
    complete = by_outcome["complete"]
    assert (complete.rows, complete.bytes, complete.status) == (321, len(wire), 200)
    assert (complete.via, complete.client, complete.user_agent) == (
        "signed",
        "127.0.0.1",
        "audit-test/1",
    )
    assert 0 < by_outcome["cut"].rows < world["rows"]
    assert by_outcome["failed"].reason
    refused = by_outcome["refused"]
    assert (refused.status, refused.user_id, refused.params) == (403, staff.pk, {"limit": "1"})
    assert all(row.username == "staff" for row in rows)


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_no_sig_value_is_written_anywhere_in_a_whole_session(
    kind, world, exporter, cookie_of, django_db_blocker, tmp_path, audited
):
    """``DEBUG`` on, every logger at debug level (SQL too), the server's own log at debug
    level and its access log on: signed exports (whole, cut, failing, refused), a job
    followed and downloaded, the admin's pages, revoke-all."""
    env = {**server_env(world), "DJANGO_LOG_LEVEL": "DEBUG", "DJANGO_DEBUG": "1"}
    eve = exporter("eve")
    with (
        an_export_that_fails(world, django_db_blocker) as failing,
        run_server(kind, env, tmp_path, access_log=True, debug=True) as running,
    ):
        session = security_session.Session(running.url, eve)
        with django_db_blocker.unblock():
            security_session.run(session, cookie_of("superuser"), failing=failing)
            written = [
                *JobLogLine.objects.values_list("message", flat=True),
                *(str(params) for params in ExportJob.objects.values_list("params", flat=True)),
                *(str(row.as_record()) for row in audited()),
            ]
    log = running.log.read_text(errors="replace")
    assert "sig=[hidden]" in log  # the access log has the lines, less the values
    assert "GET /exports/orders.ndjson" in log and "DEBUG django.db.backends: (" in log
    for form in session.forms():
        for where, text in (("log", log), ("database", "\n".join(written))):
            assert form not in text, f"a sig value in the {where}"
        assert not any(form in page for page in session.pages), "a sig value in the admin"
