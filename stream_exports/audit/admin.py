"""The audit trail in the admin: read-only, filtered and searched; pruned by ``prune_audit``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

__all__ = ["AuditRecordAdmin"]


class AuditRecordAdmin(admin.ModelAdmin):
    """Who exported what, when: for superusers and holders of ``view_auditrecord``."""

    list_display = [
        "started_at",
        "kind",
        "username",
        "dataset",
        "format",
        "outcome",
        "rows",
        "bytes",
        "via",
        "client",
        "count",
    ]
    list_filter = ["outcome", "kind", "via", "dataset", "format", "started_at"]
    search_fields = ["username", "dataset", "client", "user_agent", "reason", "job"]
    date_hierarchy = "started_at"
    list_select_related = ["user"]
    show_full_result_count = False  # (a long trail: no second COUNT per page)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # (``manage.py prune_audit`` deletes what is past its retention)
