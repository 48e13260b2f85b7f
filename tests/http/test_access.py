"""Signed, expiring URLs: who they speak for, and what they refuse."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from stream_exports.conf import conf
from stream_exports.core.datasets import registry
from stream_exports.http.access import sign_url
from stream_exports.jobs.lifecycle import create_job
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
    assert status_and_error(url) == (403, "you may not export dataset 'orders'.")


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
    url = sign_url(PATH, world["users"]["staff"], {"limit": 5})
    response = Client().get(with_params(url, after="100", trailer="0"))
    assert response.status_code == 200
    assert b'"id":101' in b"".join(response.streaming_content)


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
