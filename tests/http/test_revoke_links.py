"""``POST /exports/links/revoke``: a user ends every signed URL made for them, in one step."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from stream_exports.links.signing import sign_url
from stream_exports.models import LinkRevocation

from ..streams import status_of

pytestmark = pytest.mark.django_db

REVOKE = "/exports/links/revoke"
EXPORT = "/exports/orders.ndjson"


def test_a_session_revokes_its_users_links_with_the_csrf_token(exporter):
    eve, bob = exporter("eve"), exporter("bob")
    eves, bobs = sign_url(EXPORT, eve, {"limit": 1}), sign_url(EXPORT, bob, {"limit": 1})
    client = Client(enforce_csrf_checks=True)
    client.force_login(eve)
    refused = client.post(REVOKE)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    assert status_of(eves) == 200  # nothing revoked
    client.get("/admin/")  # a page with a form (logout) sets the CSRF cookie
    response = client.post(REVOKE, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "every signed URL made for you until now is refused from now on."
    [revocation] = LinkRevocation.objects.filter(user=eve)
    assert (revocation.user, revocation.revoked_by) == (eve, eve)
    assert body["revoked_at"] == json.loads(json.dumps(revocation.revoked_at.isoformat()))
    assert status_of(eves) == 403
    assert status_of(bobs) == 200
    assert status_of(sign_url(EXPORT, eve, {"limit": 1})) == 200


def test_a_signed_revoke_link_revokes_and_ends_itself(exporter):
    eve = exporter("eve")
    revoke = sign_url(REVOKE, eve)
    assert Client().post(revoke).status_code == 200
    assert Client().post(revoke).json()["error"].startswith("signed URL was revoked")


def test_revoking_needs_a_user_and_a_post(exporter):
    assert Client().post(REVOKE).status_code == 401
    client, eve = Client(), exporter("eve")
    client.force_login(eve)
    assert client.get(REVOKE).status_code == 405
    assert not LinkRevocation.objects.filter(user=eve).exists()
