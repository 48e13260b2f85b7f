"""Stream caps: every stream counts, exports and job streams alike, in every process (a
lease each, in the database); over a cap, a 429 with Retry-After naming it. Released
however a stream ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from stream_exports.conf import conf
from stream_exports.http import limits
from stream_exports.http.views import export
from stream_exports.models import StreamLease

from ..job_api import QUEUE_ONLY, get, start
from ..streams import hang_up

pytestmark = pytest.mark.usefixtures("committed_jobs")


@pytest.fixture(autouse=True)
def no_leases_before(committed_jobs):
    """Leases other tests left (a stream never closed) count for nothing here
    (``committed_jobs`` deletes this test's after it)."""
    StreamLease.objects.all().delete()


def test_streams_over_the_per_user_cap_get_429(world, settings):
    settings.STREAM_EXPORTS = {**QUEUE_ONLY, "MAX_STREAMS_PER_USER": 1}
    link = start(world, {"limit": 1}).json()["links"]["events"]
    first = get(link)  # open, not read: holds its place
    second = get(link)
    assert second.status_code == 429
    assert second["Retry-After"] == "5"
    assert second.json()["error"] == (
        "you have 1 streams open, the most allowed (MAX_STREAMS_PER_USER); "
        "close one or try again soon."
    )
    first.close()
    assert get(link).status_code == 200
    assert StreamLease.objects.count() == 1  # (the last one, still open until closed)


def test_exports_over_the_per_user_cap_get_429(signed, settings):
    settings.STREAM_EXPORTS = {"MAX_STREAMS_PER_USER": 1}
    first = Client().get(signed({"limit": 5}))  # open, not read: holds its place
    second = Client().get(signed({"limit": 5}))
    assert second.status_code == 429
    assert second["Retry-After"] == str(conf.BUSY_RETRY_AFTER)
    assert "MAX_STREAMS_PER_USER" in second.json()["error"]
    other_user = Client().get(signed({"limit": 5}, user="superuser"))
    assert other_user.status_code == 200  # the cap is per user
    other_user.close()
    first.close()
    again = Client().get(signed({"limit": 5}))
    assert again.status_code == 200
    again.close()
    assert not StreamLease.objects.exists()


def test_exports_over_the_sites_cap_get_429(signed, settings):
    settings.STREAM_EXPORTS = {"MAX_STREAMS": 1, "BUSY_RETRY_AFTER": 9}
    first = Client().get(signed({"limit": 5}))
    other_user = Client().get(signed({"limit": 5}, user="superuser"))
    assert other_user.status_code == 429
    assert other_user["Retry-After"] == "9"
    assert other_user.json()["error"] == (
        "1 streams are open on this site, the most allowed (MAX_STREAMS); try again soon."
    )
    first.close()
    assert not StreamLease.objects.exists()


def test_a_lease_is_released_however_its_stream_ends(signed, settings, fails_after_first_batch):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": False, "CHUNK_SIZE": 100}
    whole = Client().get(signed({"limit": 5}))
    assert StreamLease.objects.count() == 1
    b"".join(whole.streaming_content)  # complete
    whole.close()
    assert not StreamLease.objects.exists()

    request = RequestFactory().get(signed({"limit": 500}))
    cut = export(request, "orders", "ndjson")
    next(iter(cut.streaming_content))
    hang_up(cut)  # the client goes
    assert not StreamLease.objects.exists()

    failing = Client().get(signed({"limit": 5000}))  # fails after its first batch
    body = b"".join(failing.streaming_content)
    failing.close()
    assert b'"status":"error"' in body
    assert not StreamLease.objects.exists()


def test_with_both_caps_off_nothing_is_written(signed, settings):
    settings.STREAM_EXPORTS = {"MAX_STREAMS": 0, "MAX_STREAMS_PER_USER": 0}
    response = Client().get(signed({"limit": 1}))
    assert response.status_code == 200
    assert not StreamLease.objects.exists()
    response.close()


def test_an_expired_lease_counts_for_nothing_and_a_live_one_is_renewed(world, signed, settings):
    settings.STREAM_EXPORTS = {"MAX_STREAMS_PER_USER": 1}
    staff = str(world["users"]["staff"].pk)
    dead = StreamLease.objects.create(  # a process that died holding a stream of staff's
        user=staff, holder="gone:1:x", expires_at=timezone.now() - timedelta(seconds=1)
    )
    others = set(limits.limiter.held())  # (streams other tests left open in this process)
    response = Client().get(signed({"limit": 1}))
    assert response.status_code == 200  # the dead process's lease counts for nothing
    [held] = set(limits.limiter.held()) - others
    before = StreamLease.objects.get(pk=held).expires_at
    limits.Renewer(limits.limiter).renew()
    assert StreamLease.objects.get(pk=held).expires_at > before
    assert StreamLease.objects.filter(pk=dead.pk).exists()  # (deleted at twice its lifetime)
    StreamLease.objects.filter(pk=dead.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    limits.Renewer(limits.limiter).renew()
    assert not StreamLease.objects.filter(pk=dead.pk).exists()
    response.close()


def test_the_renewer_ends_when_the_process_holds_no_lease():
    limiter = limits.StreamLimiter()
    renewer = limits.Renewer(limiter)
    limiter._renewer = renewer
    limiter._held.add("a lease")
    assert not limiter.release_renewer(renewer)  # a lease held: it renews on
    limiter._held.clear()
    assert limiter.release_renewer(renewer)  # none: it ends, and the next stream starts one
    assert limiter._renewer is None
