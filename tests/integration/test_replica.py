"""The streaming standby of tests/replica.py, through Django's connections: what the
primary commits shows on the alias "replica" within seconds, not while replay is paused,
and a stopped standby is Django's OperationalError until it starts again.

Then exports and jobs with ``READ_DATABASE = "replica"``: their rows (COPY, streamed,
cursor and keyset reads) come from the standby, shown by a row committed on the primary
while replay is paused, which they do not see; a lagging replica gives the rows it has,
and a resume picks up the rest; a standby that goes away mid-export ends the stream with
the error trailer (or a cut, for CSV) and fails the job saying so; while it is down, the
export URL answers 503. Job state, audit rows and stream leases go to the default
database throughout (the standby takes no writes)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from django.db import OperationalError, connection, connections
from django.test import Client
from django.utils import timezone

from stream_exports.core.datasets import registry
from stream_exports.core.formats.ndjson import Trailer, parse_trailer
from stream_exports.jobs.files import JobFile
from stream_exports.jobs.lifecycle import create_job
from stream_exports.jobs.worker import run_job
from stream_exports.models import ExportJob, JobStatus

from ..job_api import downloaded_ids
from ..replica import REPLICA, Standby, primary_conninfo
from ..testapp.models import Order

#: How long a committed row may take to show on the standby (it takes milliseconds).
SOON = 5.0


@pytest.fixture
def probe(replica: str, django_db_blocker) -> Iterator[str]:
    """A customer name of the test's own, for the orders it commits on the primary
    (deleted after); the test runs with database access, in autocommit."""
    marker = f"replica-probe-{uuid4().hex}"
    with django_db_blocker.unblock():
        yield marker
        Order.objects.filter(customer=marker).delete()


def commit_order(customer: str) -> str:
    """Commit an order on the primary; its WAL position just after."""
    Order.objects.create(
        customer=customer,
        email="probe@example.com",
        amount=1,
        quantity=1,
        created_at=timezone.now(),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def on_replica(customer: str) -> bool:
    return Order.objects.using(REPLICA).filter(customer=customer).exists()


def within(seconds: float, condition: Callable[[], bool]) -> float:
    """The seconds until ``condition()`` held (polled every 20 ms); fails after ``seconds``."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - began


def replica_has(standby: Standby, function: str, lsn: str) -> bool:
    """Whether the standby's ``function`` (received or replayed WAL) is at ``lsn`` yet."""
    with standby.connect() as conn:
        row = conn.execute(f"SELECT {function}() >= %s::pg_lsn", [lsn]).fetchone()
        return bool(row and row[0])


def test_a_committed_row_shows_on_the_replica_within_seconds(standby: Standby, probe: str):
    assert connections[REPLICA].settings_dict["PORT"] == str(standby.port)
    assert not on_replica(probe)
    commit_order(probe)
    assert within(SOON, lambda: on_replica(probe)) < SOON
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_database()")
        assert cursor.fetchone() == (True, connection.settings_dict["NAME"])


def test_paused_replay_hides_new_rows_until_resumed(standby: Standby, probe: str):
    standby.pause_replay()
    lsn = commit_order(probe)
    # The WAL reaches the standby, which does not replay it: a replica lagging behind.
    within(SOON, lambda: replica_has(standby, "pg_last_wal_receive_lsn", lsn))
    assert not replica_has(standby, "pg_last_wal_replay_lsn", lsn)
    assert not on_replica(probe)
    with pytest.raises(TimeoutError, match="replay"):
        standby.wait_caught_up(timeout=0.5)
    standby.resume_replay()
    standby.wait_caught_up()
    assert on_replica(probe)


def test_a_stopped_replica_is_an_operational_error_until_started(standby: Standby, probe: str):
    replica = connections[REPLICA]
    commit_order(probe)
    standby.wait_caught_up()
    assert on_replica(probe)  # a connection to the standby is open now
    standby.stop()
    assert not standby.running
    with pytest.raises(OperationalError):  # the open connection: the server went away
        on_replica(probe)
    replica.close_if_unusable_or_obsolete()  # as Django does when a request ends
    assert replica.connection is None
    with pytest.raises(OperationalError):  # a new one: connection refused
        on_replica(probe)
    replica.close_if_unusable_or_obsolete()

    commit_order(probe)  # the primary goes on; its slot keeps the WAL for the standby
    assert Order.objects.filter(customer=probe).count() == 2

    standby.start()
    standby.wait_caught_up()
    assert Order.objects.using(REPLICA).filter(customer=probe).count() == 2


def test_a_replica_that_goes_away_mid_read(standby: Standby, probe: str):
    """A read in chunks (a server-side cursor) that the standby leaves half-way through."""
    Order.objects.bulk_create(
        Order(customer=probe, email="probe@example.com", amount=1, quantity=1, created_at=now)
        for now in [timezone.now()] * 1000
    )
    standby.wait_caught_up()
    rows = Order.objects.using(REPLICA).filter(customer=probe).iterator(chunk_size=100)
    assert next(rows).customer == probe
    standby.stop()
    with pytest.raises(OperationalError):
        for _ in rows:
            pass
    standby.start()
    connections[REPLICA].close_if_unusable_or_obsolete()
    assert Order.objects.using(REPLICA).filter(customer=probe).count() == 1000


@pytest.mark.django_db(databases=["default", REPLICA])
def test_the_alias_is_one_django_test_cases_accept(standby: Standby):
    """In a test case (a transaction on each of its databases), the alias reads; being a
    test mirror, Django creates, flushes and drops nothing through it."""
    assert connections[REPLICA].settings_dict["TEST"]["MIRROR"] == "default"
    standby.wait_caught_up()
    assert Order.objects.using(REPLICA).count() == Order.objects.count()


def test_standbys_side_by_side_and_their_cleanup(standby: Standby):
    """As pytest-xdist workers have them: a second standby of the same primary has a port,
    directory and slot of its own; closing it, after a failure too, leaves nothing."""
    primary = primary_conninfo(connections["default"].settings_dict)
    with pytest.raises(RuntimeError, match="a failing test"), Standby(primary) as other:
        assert other.directory is not None
        directory = other.directory
        assert other.port != standby.port
        assert directory != standby.directory
        assert other.name != standby.name
        assert other.running and standby.running
        with psycopg.connect(other.dsn, connect_timeout=5) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        raise RuntimeError("a failing test")

    assert not directory.exists()
    assert other.directory is None
    with psycopg.connect(primary, autocommit=True) as conn:
        slots = conn.execute("SELECT slot_name FROM pg_replication_slots").fetchall()
        walsenders = conn.execute("SELECT application_name FROM pg_stat_replication").fetchall()
    assert (other.name,) not in slots
    assert (other.name,) not in walsenders
    assert (standby.name,) in slots
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(other.dsn, connect_timeout=5)


# -- exports and jobs reading from the replica -------------------------------------------

#: Orders made by these tests are dated here; the seeded ones are years before it.
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
#: What selects only them (the dataset's filter).
THEIRS = {"created_after": "2098-01-01T00:00:00Z"}
#: The ways rows leave PostgreSQL (docs/databases.md), each as settings.
READS = {
    "copy": {},
    "stream": {"COPY_FAST_PATH": False, "ENGINE": "stream"},
    "cursor": {"COPY_FAST_PATH": False, "ENGINE": "cursor"},
    "keyset": {"COPY_FAST_PATH": False, "ENGINE": "keyset"},
}


@pytest.fixture
def from_replica(replica: str, world, committed_jobs, settings) -> Callable[..., None]:
    """``from_replica(**more)``: STREAM_EXPORTS reading from the replica (with ``more``);
    jobs queued only, their files in a temporary directory, deleted after."""

    def use(**more: Any) -> None:
        settings.STREAM_EXPORTS = {
            "JOB_RUNNER": "stream_exports.runners.WorkerRunner",
            "READ_DATABASE": replica,
            **more,
        }

    use()
    return use


def commit_future_order(customer: str) -> int:
    """Commit one of this module's orders on the primary; its id."""
    return Order.objects.create(
        customer=customer, email="probe@example.com", amount=1, quantity=1, created_at=FUTURE
    ).pk


def exported(path: str) -> tuple[list[dict[str, Any]], Trailer | None]:
    """The records and the trailer of an NDJSON export, as a client reads it."""
    response = Client().get(path)
    assert response.status_code == 200, response.content
    lines = b"".join(response.streaming_content).splitlines()
    return [json.loads(line) for line in lines[:-1]], parse_trailer(lines[-1])


def ids_of(records: list[dict[str, Any]]) -> list[int]:
    return [record["id"] for record in records]


@pytest.mark.parametrize("read", READS)
def test_an_export_reads_its_rows_from_the_replica(
    standby: Standby, probe: str, from_replica, signed, audited, read: str
):
    from_replica(**READS[read])
    seen = commit_future_order(probe)
    standby.wait_caught_up()
    standby.pause_replay()
    unseen = commit_future_order(probe)  # on the primary only, until replay resumes

    records, trailer = exported(signed(THEIRS))
    assert ids_of(records) == [seen]
    assert trailer == Trailer("complete", rows=1, last=seen)
    assert records[0]["customer"] == probe
    # The stream's audit record went to the primary (the standby refuses writes).
    (record,) = audited(kind="export")
    assert record.rows == 1 and record.outcome == "complete"

    from_replica(READ_DATABASE="", **READS[read])  # the routers' choice: the primary
    assert ids_of(exported(signed(THEIRS))[0]) == [seen, unseen]

    from_replica(**READS[read])
    standby.resume_replay()
    standby.wait_caught_up()
    assert ids_of(exported(signed(THEIRS))[0]) == [seen, unseen]


def test_a_job_reads_from_the_replica_and_writes_its_state_to_the_default(
    standby: Standby, probe: str, from_replica, world
):
    seen = commit_future_order(probe)
    standby.wait_caught_up()
    standby.pause_replay()
    commit_future_order(probe)

    job = create_job(registry.get("orders"), THEIRS, world["users"]["staff"])
    assert run_job(job.pk) is False
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.total, job.rows) == (1, 1)  # counted on the replica too
    assert downloaded_ids(job) == [seen]
    assert not ExportJob.objects.using(REPLICA).filter(pk=job.pk).exists()  # not replayed


def test_a_lagging_replica_gives_the_rows_it_has_and_a_resume_gets_the_rest(
    standby: Standby, probe: str, from_replica, signed
):
    """What a client of a lagging replica sees: a whole export of the rows the replica
    has (its trailer says complete); rows committed later, with larger cursors, come with
    the next export from ``after=last`` once replay caught up."""
    first = commit_future_order(probe)
    standby.wait_caught_up()
    standby.pause_replay()
    later = commit_future_order(probe)

    records, trailer = exported(signed(THEIRS))
    assert ids_of(records) == [first] and trailer is not None and trailer.complete

    standby.resume_replay()
    standby.wait_caught_up()
    rest, _ = exported(signed({**THEIRS, "after": str(trailer.last)}))
    assert ids_of(rest) == [later]


@pytest.mark.parametrize("read", READS)
def test_a_replica_that_goes_away_mid_export_ends_it_with_the_error_trailer(
    standby: Standby, from_replica, signed, world, read: str
):
    from_replica(**READS[read])
    standby.wait_caught_up()
    response = Client().get(signed())
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    received = [next(chunks)]
    standby.stop()
    received.extend(chunks)
    response.close()

    lines = b"".join(received).splitlines()
    trailer = parse_trailer(lines[-1])
    assert trailer is not None and trailer.status == "error", lines[-1]
    assert trailer.retry  # the database's connection: after=last gets the rest
    records = [json.loads(line) for line in lines[:-1]]
    assert 0 < trailer.rows == len(records) < world["rows"]
    assert trailer.last == records[-1]["id"]
    assert not any(parse_trailer(line) for line in lines[:-1])


def test_a_csv_export_whose_replica_goes_away_is_cut_not_short(
    standby: Standby, from_replica, signed
):
    """CSV has no trailer: the server breaks the connection (the client sees a cut)."""
    from_replica(COPY_FAST_PATH=False)
    response = Client().get(signed(format="csv"))
    chunks = iter(response.streaming_content)
    next(chunks)
    standby.stop()
    with pytest.raises(OperationalError):
        for _ in chunks:
            pass
    response.close()


def test_while_the_replica_is_down_the_export_url_answers_503(
    standby: Standby, from_replica, signed
):
    standby.stop()
    response = Client().get(signed())
    assert response.status_code == 503
    assert response["Retry-After"] and "database is unavailable" in response.json()["error"]


def test_a_job_whose_replica_goes_away_fails_saying_so_and_keeps_no_file(
    standby: Standby, from_replica, world, monkeypatch, tmp_path
):
    written = JobFile.write

    def write_then_lose_the_replica(self: JobFile, chunk: bytes) -> Any:
        if standby.running:
            standby.stop()  # after the job's first chunk is read
        return written(self, chunk)

    monkeypatch.setattr(JobFile, "write", write_then_lose_the_replica)
    job = create_job(registry.get("orders"), {}, world["users"]["staff"])
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "database error" in job.error and "OperationalError" in job.error
    assert 0 < job.rows < world["rows"]
    assert not job.file
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]

    monkeypatch.undo()
    standby.start()
    again = create_job(registry.get("orders"), {"limit": "10"}, world["users"]["staff"])
    run_job(again.pk)
    again.refresh_from_db()
    assert (again.status, again.rows) == (JobStatus.SUCCEEDED, 10)
