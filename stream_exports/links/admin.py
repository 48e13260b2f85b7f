"""Revoking signed links in the admin: staff revoke their own; whoever may add revocations
revokes anyone's. :func:`revoke_signed_links` is an action for the project's user admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import LinkRevocation

__all__ = ["LinkRevocationAdmin", "revoke_signed_links"]

#: The permission to revoke anyone's links (a superuser has it).
REVOKE_ANYONE = "stream_exports.add_linkrevocation"


class LinkRevocationAdmin(admin.ModelAdmin):
    """ "Add" revokes: every signed URL of the chosen user (a staff user's own, without
    ``add_linkrevocation``) made until now stops working. The list is the history."""

    list_display = ["user", "revoked_at", "revoked_by", "reason"]
    list_select_related = ["user", "revoked_by"]
    search_fields = ["user__username", "reason"]
    date_hierarchy = "revoked_at"
    fields = ["user", "reason"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        revocations = super().get_queryset(request)
        if request.user.has_perm(REVOKE_ANYONE):
            return revocations
        return revocations.filter(user=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting the last revocation would bring its links back

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user", "reason", "revoked_by"] if obj is not None else []

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField | None:
        if db_field.name == "user" and not request.user.has_perm(REVOKE_ANYONE):
            me: Any = request.user.pk
            kwargs["queryset"] = get_user_model()._default_manager.filter(pk=me)
            kwargs["initial"] = me
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: LinkRevocation, form: Any, change: bool
    ) -> None:
        by: Any = request.user  # (staff: signed in)
        revoked = LinkRevocation.objects.revoke(obj.user, by=by, reason=obj.reason)
        obj.pk, obj.revoked_at, obj.revoked_by = revoked.pk, revoked.revoked_at, by


@admin.action(description="Revoke the selected users' signed links")
def revoke_signed_links(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> None:
    """An action for the project's user admin (``actions = [revoke_signed_links]``), for
    those who may revoke anyone's links (``add_linkrevocation``)."""
    if not request.user.has_perm(REVOKE_ANYONE):
        model_admin.message_user(
            request, "You may not revoke other users' signed links.", messages.ERROR
        )
        return
    users = list(queryset)
    for user in users:
        LinkRevocation.objects.revoke(user, by=request.user, reason="revoked in the admin")
    model_admin.message_user(
        request, f"Revoked the signed links of {len(users)} user(s).", messages.SUCCESS
    )
