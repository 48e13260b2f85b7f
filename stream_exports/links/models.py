"""Each user's "revoke all": every signed URL made for them before it stops working."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from ..audit.trail import audit_log

__all__ = ["LinkRevocation", "LinkRevocationQuerySet", "revoke_links"]


class LinkRevocationQuerySet(models.QuerySet["LinkRevocation"]):
    def revoke(self, user: Any, by: Any = None, reason: str = "") -> LinkRevocation:
        """End every signed URL ``user`` has now (those made later work); ``by`` did it."""
        revocation = self.create(user=user, revoked_by=by, reason=reason[:200])
        audit_log("revoke", revocation.as_record())
        return revocation


class LinkRevocation(models.Model):
    """ "Revoke all": a signed URL carries the time it was made, and stops working once its
    user has a revocation made after it. Never deleted: deleting the last one would bring
    back the links it ended."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Whose signed URLs end.",
    )
    revoked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who revoked them (empty: the command, or a deleted user).",
    )
    reason = models.CharField(max_length=200, blank=True)

    objects = LinkRevocationQuerySet.as_manager()

    class Meta:
        ordering = ["-revoked_at", "-pk"]
        verbose_name = "signed link revocation"

    def __str__(self) -> str:
        return f"signed links of {self.user} revoked at {self.revoked_at:%Y-%m-%d %H:%M:%S}"

    def as_record(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "user": self.user_id,
            "revoked_by": self.revoked_by_id,
            "reason": self.reason,
            "revoked_at": self.revoked_at,
        }


def revoke_links(user: Any, by: Any = None, reason: str = "") -> LinkRevocation:
    """End every signed URL made for ``user`` until now; ``by``: who did it."""
    return LinkRevocation.objects.revoke(user, by=by, reason=reason)
