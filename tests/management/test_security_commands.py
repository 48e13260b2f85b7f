"""``manage.py revoke_links`` and ``manage.py prune_audit``."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from stream_exports.links.signing import sign_url
from stream_exports.models import AuditRecord, LinkRevocation

from ..streams import status_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_audit_records() -> None:
    """Start from an empty trail: servers run by earlier tests commit audit records of theirs
    (this test's transaction rolls the deletion back)."""
    AuditRecord.objects.all().delete()


EXPORT = "/exports/orders.ndjson"


def test_revoke_links_ends_the_named_users_links(exporter):
    eve, bob, carol = exporter("eve"), exporter("bob"), exporter("carol")
    links = {user: sign_url(EXPORT, user, {"limit": 1}) for user in (eve, bob, carol)}
    out = StringIO()
    call_command("revoke_links", "eve", "bob", "--reason", "laptop stolen", stdout=out)
    assert out.getvalue().startswith("revoked the signed links of 'eve': signed links of eve")
    assert [status_of(links[user]) for user in (eve, bob, carol)] == [403, 403, 200]
    revocation = LinkRevocation.objects.get(user=eve)
    assert (revocation.revoked_by, revocation.reason) == (None, "laptop stolen")


def test_revoke_links_revokes_nothing_if_a_user_is_unknown(exporter):
    exporter("eve")
    with pytest.raises(CommandError, match=re.escape("no user 'ghost'.")):
        call_command("revoke_links", "eve", "ghost", stdout=StringIO())
    assert not LinkRevocation.objects.exists()


def aged(days: int) -> AuditRecord:
    started = timezone.now() - timedelta(days=days, minutes=1)
    return AuditRecord.objects.create(kind="export", via="session", started_at=started)


def test_prune_audit_deletes_what_is_past_retention(settings):
    old, recent = aged(400), aged(10)
    out = StringIO()
    call_command("prune_audit", "--dry-run", stdout=out)
    assert (
        out.getvalue()
        == "1 audit records are older than 365 days, and 0 more beyond the newest 1000000.\n"
    )
    assert AuditRecord.objects.filter(pk__in=[old.pk, recent.pk]).count() == 2
    settings.STREAM_EXPORTS = {"AUDIT_RETENTION_DAYS": 5}
    call_command("prune_audit", stdout=(out := StringIO()))
    assert (
        out.getvalue()
        == "deleted 2 audit records older than 5 days, and 0 beyond the newest 1000000.\n"
    )
    assert not AuditRecord.objects.filter(pk__in=[old.pk, recent.pk]).exists()


def test_prune_audit_keeps_a_positive_number_of_days():
    kept = aged(2)
    call_command("prune_audit", "--days", "3", stdout=StringIO())
    assert AuditRecord.objects.filter(pk=kept.pk).exists()
    with pytest.raises(CommandError, match=re.escape("--days must be 1 or more, not 0.")):
        call_command("prune_audit", "--days", "0", stdout=StringIO())


def test_prune_audit_keeps_at_most_the_newest_rows_as_well(settings):
    rows = [aged(days) for days in (5, 4, 3, 2, 1)]
    settings.STREAM_EXPORTS = {"AUDIT_RETENTION_ROWS": 2}
    call_command("prune_audit", "--dry-run", stdout=(out := StringIO()))
    assert out.getvalue() == (
        "0 audit records are older than 365 days, and 3 more beyond the newest 2.\n"
    )
    call_command("prune_audit", "--keep", "3", stdout=(out := StringIO()))
    assert (
        out.getvalue()
        == "deleted 0 audit records older than 365 days, and 2 beyond the newest 3.\n"
    )
    assert list(AuditRecord.objects.values_list("pk", flat=True)) == [r.pk for r in rows[:-4:-1]]
