"""``JobStreams`` (stream_exports.asgi) against Django's ASGI handler alone, on uvicorn: the
same answer to every request for a job's events and log, good or bad; the stream's
lease and record when it ends or its client leaves; no thread held per stream."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from django.urls import reverse

from stream_exports.core.datasets import registry
from stream_exports.jobs.lifecycle import create_job
from stream_exports.jobs.worker import run_job
from stream_exports.links.signing import sign_url
from stream_exports.models import AuditRecord, ExportJob, StreamLease

from ..servers import Server, run_server, server_env
from .test_stream_records import log_end, records_of

pytestmark = pytest.mark.servers

#: What differs between two servers' answers to the same request, whoever serves it.
PER_SERVER = {"date", "server"}


@pytest.fixture(scope="module")
def servers(world: dict[str, Any], tmp_path_factory) -> Iterator[dict[str, Server]]:
    """uvicorn with ``JobStreams`` ("route") and with Django's handler alone ("django")."""
    env = server_env(world, MAX_STREAMS_PER_USER=50)
    tmp = tmp_path_factory.mktemp("route")
    with (
        run_server("uvicorn", env, tmp) as route,
        run_server("uvicorn", env, tmp, app="tests.asgi:django_application") as django,
    ):
        yield {"route": route, "django": django}


@pytest.fixture(scope="module", autouse=True)
def leaves_no_rows(world: dict[str, Any], django_db_blocker) -> Iterator[None]:
    """The audit rows the module's jobs write, and any lease, deleted after it (committed:
    other modules count them)."""
    with django_db_blocker.unblock():
        before = AuditRecord.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        yield
        AuditRecord.objects.filter(pk__gt=before).delete()
        StreamLease.objects.all().delete()


@pytest.fixture(scope="module")
def job(world: dict[str, Any], django_db_blocker) -> Iterator[ExportJob]:
    """A finished job of "staff" (its events and log are the same on every request)."""
    with django_db_blocker.unblock():
        job = create_job(registry.get("orders"), {"limit": "30"}, world["users"]["staff"])
        run_job(job.pk)
        yield job
        job.delete()


def answer(server: Server, method: str, url: str, headers: dict[str, str]) -> tuple:
    """(status, headers but the per-server ones, body) of one request (not compressed:
    Django's gzip varies each body, against BREACH)."""
    headers = {"Accept-Encoding": "identity", **headers}
    response = httpx.request(
        method, server.url + url, headers=headers, timeout=30, follow_redirects=False
    )
    kept = sorted((k, v) for k, v in response.headers.multi_items() if k not in PER_SERVER)
    return response.status_code, kept, response.content


def requests_for(job: ExportJob, world: dict[str, Any], cookie_of) -> dict[str, tuple]:
    """Every kind of request for the job's streams: (method, URL, headers), by name."""
    staff = world["users"]["staff"]
    events = reverse("stream_exports:job-events", args=[job.pk])
    log = reverse("stream_exports:job-log", args=[job.pk])
    signed = sign_url(events, staff)
    html = {"Accept": "text/html"}
    return {
        "signed": ("GET", signed, {}),
        "signed, Last-Event-ID": ("GET", signed, {"Last-Event-ID": "2"}),
        "signed, lastEventId=": ("GET", signed + "&lastEventId=3", {}),
        "signed, HEAD": ("HEAD", signed, {}),
        "signed log": ("GET", sign_url(log, staff), {}),
        "signed log, follow=0": ("GET", sign_url(log, staff) + "&follow=0", {}),
        "session": ("GET", events, {"Cookie": cookie_of("staff")}),
        "session of a superuser": ("GET", events, {"Cookie": cookie_of("superuser")}),
        "cross-origin": ("GET", signed, {"Origin": "https://elsewhere.example"}),
        "bad Last-Event-ID": ("GET", signed, {"Last-Event-ID": "x1"}),
        "bad lastEventId=": ("GET", signed + "&lastEventId=%C2%B2", {}),
        "tampered": ("GET", signed.replace("sig=", "sig=x"), {}),
        "another path's link": ("GET", sign_url(log, staff).replace("/log", "/events"), {}),
        "another user's link": ("GET", sign_url(events, world["users"]["plain"]), {}),
        "anonymous": ("GET", events, {}),
        "anonymous browser": ("GET", events, html),
        "session of another user": ("GET", events, {"Cookie": cookie_of("plain")}),
        "no such job": ("GET", sign_url(events.replace(str(job.pk)[:8], "0" * 8), staff), {}),
        "POST": ("POST", signed, {}),
    }


def test_the_route_answers_as_djangos_handler(servers, job, world, cookie_of):
    for name, (method, url, headers) in requests_for(job, world, cookie_of).items():
        route = answer(servers["route"], method, url, headers)
        django = answer(servers["django"], method, url, headers)
        assert route == django, name
        if name.startswith("signed") and method == "GET":
            assert route[0] == 200 and route[2], name


def test_a_handed_off_stream_is_recorded_as_djangos(servers, job, world):
    url = sign_url(reverse("stream_exports:job-events", args=[job.pk]), world["users"]["staff"])
    records = []
    for server in servers.values():
        since = log_end(server)
        body = httpx.get(server.url + url, timeout=30).content
        [record] = records_of(server, since, 1, stream="events", job=str(job.pk))
        assert record["bytes"] == len(body) and record["lines"] == body.count(b"\n")
        records.append({k: v for k, v in record.items() if not k.endswith("_ms")})
    assert records[0] == records[1]
    assert records[0]["outcome"] == "complete"


def settled(check: Callable[[], bool], seconds: float = 10) -> bool:
    """Whether ``check()`` holds within ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def leases(django_db_blocker, user: Any) -> int:
    with django_db_blocker.unblock():
        return StreamLease.objects.filter(user=str(user.pk)).count()


def test_streams_of_a_running_job_hold_no_thread_and_free_their_lease_when_left(
    servers, exporter, django_db_blocker
):
    # A user of its own: a lease of the shared staff user's (an earlier test's stream,
    # still ending) would be counted with these (CI saw 21).
    staff, route = exporter("leases-left"), servers["route"]
    with django_db_blocker.unblock():
        running = create_job(registry.get("orders"), {}, staff)  # queued: never ends here
    url = route.url + sign_url(reverse("stream_exports:job-events", args=[running.pk]), staff)
    threads = route.worker().num_threads()
    since = log_end(route)
    try:
        with httpx.Client(timeout=30) as client, ExitStack() as held:
            streams = [held.enter_context(client.stream("GET", url)).iter_raw() for _ in range(20)]
            for stream in streams:  # (kept: an iterator dropped closes its connection)
                assert next(stream).startswith(b"retry: ")
            assert leases(django_db_blocker, staff) == 20
            # Django's handler holds a thread per request while it streams; JobStreams none
            # (those of the last requests Django answered may take a moment to end).
            assert settled(lambda: route.worker().num_threads() < threads + 5)
        assert settled(lambda: leases(django_db_blocker, staff) == 0)
        gone = records_of(route, since, 20, stream="events", job=str(running.pk))
        assert [r["outcome"] for r in gone] == ["client_gone"] * 20
    finally:
        with django_db_blocker.unblock():
            running.delete()


def test_djangos_handler_alone_holds_a_thread_per_stream(servers, world, django_db_blocker):
    """What the test above measures against: without JobStreams each stream keeps one."""
    staff, django = world["users"]["staff"], servers["django"]
    with django_db_blocker.unblock():
        running = create_job(registry.get("orders"), {}, staff)
    url = django.url + sign_url(reverse("stream_exports:job-events", args=[running.pk]), staff)
    threads = django.worker().num_threads()
    try:
        with httpx.Client(timeout=30) as client, ExitStack() as held:
            streams = [held.enter_context(client.stream("GET", url)).iter_raw() for _ in range(20)]
            for stream in streams:
                next(stream)
            assert django.worker().num_threads() >= threads + 20
    finally:
        with django_db_blocker.unblock():
            running.delete()
