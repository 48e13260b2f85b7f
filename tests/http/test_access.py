"""Signed, expiring URLs: who they speak for, and what they refuse."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from stream_exports.conf import conf
from stream_exports.core.datasets import registry
from stream_exports.jobs.lifecycle import create_job
from stream_exports.links.signing import sign_url
from stream_exports.models import LinkRevocation

pytestmark = pytest.mark.django_db

PATH = "/exports/orders.ndjson"


def status_and_error(url: str) -> tuple[int, str]:
    response = Client().get(url)
    if response.status_code == 200:
        return 200, ""
    return response.status_code, response.json()["error"]


def with_params(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return f"{parts.path}?{urlencode(query)}"


def test_signed_url_acts_as_its_user(world):
    assert status_and_error(sign_url(PATH, world["users"]["staff"], {"limit": 1}))[0] == 200


def test_signed_url_still_needs_the_users_permission(world):
    url = sign_url(PATH, world["users"]["plain"], {"limit": 1})
    assert status_and_error(url) == (
        404,
        "no dataset 'orders' that you may export; GET /exports/ lists those you may.",
    )


def test_tampered_signature_is_403(world):
    url = sign_url(PATH, world["users"]["staff"])
    assert status_and_error(url[:-3] + "abc") == (403, "signed URL is not valid (bad signature).")


def test_expired_signature_is_403(world, monkeypatch):
    url = sign_url(PATH, world["users"]["staff"], expires=60)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    assert status_and_error(url) == (403, "signed URL has expired; ask for a new one.")


def test_signature_for_another_path_is_403(world):
    url = sign_url("/exports/other.ndjson", world["users"]["staff"])
    moved = PATH + "?" + urlsplit(url).query
    assert status_and_error(moved) == (403, "signed URL was made for another path.")


@pytest.mark.parametrize("change", [{"paid": "false"}, {"fields": "id,email"}, {"limit": "9"}])
def test_signed_filters_fields_and_limit_cannot_change(world, change):
    url = sign_url(PATH, world["users"]["staff"], {"paid": "true", "fields": "id", "limit": 5})
    assert status_and_error(with_params(url, **change)) == (
        403,
        "signed URL does not allow changing its filters, fields or limit.",
    )


def test_signed_url_may_resume_with_after(world):
    url = sign_url(PATH, world["users"]["staff"], {"limit": 500})
    response = Client().get(with_params(url, after="100", trailer="0"))
    assert response.status_code == 200
    ids = [json.loads(line)["id"] for line in b"".join(response.streaming_content).splitlines()]
    assert ids == list(range(101, 501))  # the rest of its 500, no more


def test_inactive_users_signature_is_403(world):
    # A copy: the session's shared user object must stay active for the tests after this.
    user = type(world["users"]["staff"]).objects.get(pk=world["users"]["staff"].pk)
    url = sign_url(PATH, user)
    user.is_active = False
    user.save()
    assert status_and_error(url) == (403, "signed URL's user no longer exists or is inactive.")


def test_lifetime_beyond_the_maximum_is_refused(world, settings):
    settings.STREAM_EXPORTS = {"SIGNED_URL_MAX_AGE": 100}
    with pytest.raises(ValueError, match="between 1 and 100 seconds"):
        sign_url(PATH, world["users"]["staff"], expires=101)


def test_the_path_inside_the_app_is_signed_so_any_script_prefix_verifies(world):
    """Signed under ``/prod`` (reverse() adds it) or without a prefix (export_url): either
    verifies at the execute-api URL (``SCRIPT_NAME=/prod``) and at a custom domain."""
    from django.urls import reverse, set_script_prefix

    user = world["users"]["staff"]
    set_script_prefix("/prod/")
    try:
        path = reverse("stream_exports:ndjson", args=["orders"])
        under_stage = sign_url(path, user, {"limit": 1})
    finally:
        set_script_prefix("/")
    assert under_stage.startswith("/prod/exports/")  # the link carries the prefix
    inside = under_stage.removeprefix("/prod")
    plain = sign_url(PATH, user, {"limit": 1})
    for url in (inside, plain):
        assert Client().get(url, SCRIPT_NAME="/prod").status_code == 200
        assert Client().get(url).status_code == 200


PASSWORD_CHANGED = "signed URL ended when its user's password changed; ask for a new one."


def test_a_password_change_ends_the_users_signed_urls_and_only_theirs(exporter):
    eve, bob = exporter("eve"), exporter("bob")
    eves, bobs = sign_url(PATH, eve, {"limit": 1}), sign_url(PATH, bob, {"limit": 1})
    assert status_and_error(eves) == (200, "")
    eve.set_password("a new password")
    eve.save()
    assert status_and_error(eves) == (403, PASSWORD_CHANGED)
    assert status_and_error(bobs) == (200, "")
    assert status_and_error(sign_url(PATH, eve, {"limit": 1})) == (200, "")  # a new one works


def test_logging_in_again_keeps_the_links(exporter):
    eve = exporter("eve")
    url = sign_url(PATH, eve, {"limit": 1})
    assert Client().login(username="eve", password="pw")  # (updates last_login)
    assert status_and_error(url) == (200, "")


def test_revoking_all_ends_the_links_made_before_and_only_the_users(exporter):
    eve, bob = exporter("eve"), exporter("bob")
    job = create_job(registry.get("orders"), {"limit": "1"}, eve)
    before = [
        sign_url(PATH, eve, {"limit": 1}),
        sign_url(reverse("stream_exports:job", args=[job.pk]), eve),
    ]
    bobs = sign_url(PATH, bob, {"limit": 1})
    revocation = LinkRevocation.objects.revoke(eve, reason="leaked in a chat")
    after = sign_url(PATH, eve, {"limit": 1})
    when = revocation.revoked_at.isoformat(timespec="seconds")
    for url in before:
        assert status_and_error(url) == (
            403,
            f"signed URL was revoked (its user's links were revoked at {when}); ask for a new one.",
        )
    assert status_and_error(bobs) == (200, "")
    assert status_and_error(after) == (200, "")


@pytest.fixture
def old_key(settings: Any) -> str:
    """A link is made with this key; then the project moves to another."""
    settings.SECRET_KEY = "the-old-key-" + "x" * 40
    return settings.SECRET_KEY


def test_links_made_with_a_key_kept_as_fallback_work_until_it_is_removed(
    exporter, old_key, settings
):
    eve = exporter("eve")
    url = sign_url(PATH, eve, {"limit": 1})
    settings.SECRET_KEY = "the-new-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert status_and_error(url) == (200, "")
    assert status_and_error(sign_url(PATH, eve, {"limit": 1})) == (200, "")  # new key too
    eve.set_password("changed during the rotation")
    eve.save()
    assert status_and_error(url) == (403, PASSWORD_CHANGED)
    settings.SECRET_KEY_FALLBACKS = []
    assert status_and_error(url) == (403, "signed URL is not valid (bad signature).")


def test_a_link_made_before_links_could_be_revoked_is_refused_and_says_so(world):
    staff = world["users"]["staff"]
    payload = {"u": str(staff.pk), "p": PATH, "q": [], "e": int(time.time()) + 60}
    token = signing.dumps(payload, salt=conf.SIGNING_SALT, compress=True)
    assert status_and_error(f"{PATH}?{urlencode({'sig': token})}") == (
        403,
        "signed URL was made by an earlier version, before links could be revoked; "
        "ask for a new one.",
    )


def ids_and_trailer(url: str) -> tuple[list[int], dict[str, Any]]:
    """The ids an export sent and its trailer."""
    response = Client().get(url)
    assert response.status_code == 200, response.json()
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    return [line["id"] for line in lines[:-1]], lines[-1]["_stream"]


def without(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != name]
    return f"{parts.path}?{urlencode(query)}"


def test_a_signed_limit_bounds_the_rows_over_every_resume(world):
    """Issue 25, tried: a limit=5 link resumed three times with after=<last id> gave 20 rows."""
    url = sign_url(PATH, world["users"]["staff"], {"limit": 5})
    seen, _ = ids_and_trailer(url)
    for _ in range(3):
        more, trailer = ids_and_trailer(with_params(url, after=str(seen[-1])))
        seen += more
        assert (trailer["status"], trailer["rows"]) == ("complete", len(more))
    assert seen == [1, 2, 3, 4, 5]


def test_a_cut_signed_download_resumes_to_exactly_the_rows_it_was_signed_for(world):
    url = sign_url(PATH, world["users"]["staff"], {"limit": 10, "paid": "true"})
    whole, _ = ids_and_trailer(url)
    rest, trailer = ids_and_trailer(with_params(url, after=str(whole[3])))
    assert rest == whole[4:] and trailer["rows"] == 6 and trailer["last"] == whole[-1]
    beyond, trailer = ids_and_trailer(with_params(url, after=str(whole[-1] + 1000)))
    assert (beyond, trailer["rows"]) == ([], 0)


def test_a_signed_after_is_a_floor(world):
    """Issue 25, tried: a link signed with after=199000 gave rows 6, 7, 8 asked with after=5."""
    url = sign_url(PATH, world["users"]["staff"], {"after": 40_000, "limit": 3})
    assert ids_and_trailer(url)[0] == [40_001, 40_002, 40_003]
    assert ids_and_trailer(with_params(url, after="40001"))[0] == [40_002, 40_003]
    assert ids_and_trailer(without(url, "after"))[0] == [40_001, 40_002, 40_003]
    response = Client().get(with_params(url, after="5"))
    assert response.status_code == 403
    assert response.json() == {
        "error": "after: this signed URL reads the rows after 40000; after= may move "
        "forward from there, never back.",
        "param": "after",
    }


def test_a_signed_after_without_a_limit_still_resumes_forward(world):
    url = sign_url(PATH, world["users"]["staff"], {"after": 49_990})
    assert ids_and_trailer(with_params(url, after="49995"))[0] == list(range(49_996, 50_001))


def test_a_link_made_before_its_rows_were_bounded_is_refused_and_says_so(world):
    staff = world["users"]["staff"]
    made = sign_url(PATH, staff, {"after": 40_000})
    payload = signing.loads(parse_qs(urlsplit(made).query)["sig"][0], salt=conf.SIGNING_SALT)
    del payload["a"]  # what links made by 0.x before issue 25 carry: no floor
    token = signing.dumps(payload, salt=conf.SIGNING_SALT, compress=True)
    assert status_and_error(f"{PATH}?{urlencode({'after': 5, 'sig': token})}") == (
        403,
        "signed URL was made by an earlier version, before its rows were bounded; "
        "ask for a new one.",
    )


def test_an_export_permission_of_its_own_refuses_viewers_and_allows_its_holders(exporter, settings):
    """EXPORT_PERMISSION "export": the view permission no longer exports, on every path."""
    from django.contrib.auth.models import Permission

    settings.STREAM_EXPORTS = {
        "EXPORT_PERMISSION": "export",
        "JOB_RUNNER": "stream_exports.runners.WorkerRunner",  # (jobs stay queued)
    }
    viewer, holder = exporter("viewer"), exporter("holder")  # both: staff, view_order
    holder.user_permissions.add(Permission.objects.get(codename="export_order"))
    refused = (403, 404)  # (404: where a dataset one may not export is answered as unknown)
    for user, allowed in ((viewer, False), (holder, True)):
        client = Client()
        client.force_login(user)
        export = client.get(PATH, {"limit": 1})
        assert export.status_code == 200 if allowed else export.status_code in refused
        listed = [dataset["name"] for dataset in client.get("/exports/").json()]
        assert listed == (["orders"] if allowed else [])
        started = client.post("/exports/orders/jobs", {"limit": 1})
        assert started.status_code == 202 if allowed else started.status_code in refused
        signed = status_and_error(sign_url(PATH, user, {"limit": 1}))[0]
        assert signed == 200 if allowed else signed in refused
