"""The audit trail and link revocations in the admin: who exported what, read-only; revoking
one's own links, or anyone's with the permission, in one step."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from stream_exports.datasets import registry
from stream_exports.links.signing import sign_url
from stream_exports.models import AuditRecord, LinkRevocation

from ..streams import status_of
from .changelist import client_for, export

AUDIT = "/admin/stream_exports/auditrecord/"
REVOCATIONS = "/admin/stream_exports/linkrevocation/"
EXPORT = "/exports/orders.ndjson"


def test_the_audit_trail_is_read_only_filtered_and_searched(world, audited):
    staff = client_for(world, "staff")
    b"".join(staff.get(EXPORT + "?limit=2").streaming_content)
    export(staff, "paid__exact=1", mode="background")
    admin = client_for(world, "superuser")
    page = admin.get(AUDIT)
    assert page.status_code == 200
    for facet in ("outcome__exact=complete", "kind=export", "kind=job", "via=session"):
        assert f"?{facet}" in page.content.decode()
    [exported, job] = audited()
    found = admin.get(AUDIT, {"q": "staff", "kind": "job"}).content.decode()
    assert f"{AUDIT}{job.pk}/change/" in found
    assert f"{AUDIT}{exported.pk}/change/" not in found
    detail = admin.get(f"{AUDIT}{exported.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()  # nothing to change
    assert admin.get(f"{AUDIT}add/").status_code == 403
    assert admin.post(f"{AUDIT}{exported.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditRecord.objects.filter(pk=exported.pk).exists()
    assert staff.get(AUDIT).status_code == 403  # (no view_auditrecord)


def test_the_admins_exports_are_audited_as_session_exports(world, audited):
    staff = client_for(world, "staff")
    response = export(staff, "paid__exact=1", format="csv", across=False, selected=["2", "4"])
    body = b"".join(response.streaming_content)
    export(staff, "paid__exact=1&q=ana", mode="background")
    [now, background] = audited()
    assert (now.kind, now.via, now.format, now.outcome) == (
        "admin-export",
        "session",
        "csv",
        "complete",
    )
    assert now.params == {"source": "an admin changelist (?paid__exact=1)", "selected": 2}
    assert now.bytes == len(body)
    assert (background.kind, background.via, background.outcome) == ("job", "session", "complete")
    assert background.params["source"] == "an admin changelist (?paid__exact=1&q=ana)"
    assert background.params["fields"] == ",".join(registry.get("orders").fields)


def test_staff_revoke_their_own_links_in_one_step(world, exporter):
    eve, bob = exporter("eve"), exporter("bob")
    eves, bobs = sign_url(EXPORT, eve, {"limit": 1}), sign_url(EXPORT, bob, {"limit": 1})
    client = Client()
    client.force_login(eve)
    form = client.get(f"{REVOCATIONS}add/").content.decode()
    assert f'<option value="{eve.pk}" selected>eve</option>' in form
    assert f'value="{bob.pk}"' not in form  # only themselves
    assert client.post(f"{REVOCATIONS}add/", {"user": bob.pk}).status_code == 200  # invalid
    response = client.post(f"{REVOCATIONS}add/", {"user": eve.pk, "reason": "pasted in chat"})
    assert response.status_code == 302
    [revocation] = LinkRevocation.objects.filter(user=eve)
    assert (revocation.revoked_by, revocation.reason) == (eve, "pasted in chat")
    assert (status_of(eves), status_of(bobs)) == (403, 200)
    assert client.get(REVOCATIONS).status_code == 200
    url = f"{REVOCATIONS}{revocation.pk}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 403  # it would bring links back


def test_whoever_may_add_revocations_revokes_anyones(world, exporter):
    eve, security = exporter("eve"), exporter("security")
    security.user_permissions.add(Permission.objects.get(codename="add_linkrevocation"))
    eves = sign_url(EXPORT, eve, {"limit": 1})
    client = Client()
    client.force_login(security)
    assert client.post(f"{REVOCATIONS}add/", {"user": eve.pk}).status_code == 302
    assert status_of(eves) == 403
    assert LinkRevocation.objects.get(user=eve).revoked_by == security


def test_the_user_admins_action_revokes_the_selected_users_links(world, exporter):
    eve, bob = exporter("eve"), exporter("bob")
    eves, bobs = sign_url(EXPORT, eve, {"limit": 1}), sign_url(EXPORT, bob, {"limit": 1})
    admin = client_for(world, "superuser")
    data: dict[str, Any] = {"action": "revoke_signed_links", "_selected_action": [eve.pk]}
    response = admin.post(reverse("admin:auth_user_changelist"), data, follow=True)
    assert "Revoked the signed links of 1 user(s)." in response.content.decode()
    assert (status_of(eves), status_of(bobs)) == (403, 200)
