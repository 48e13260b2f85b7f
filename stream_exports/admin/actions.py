"""The export action: "Export selected <things>…" opens the export dialog for the checked rows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect

from .changelists import selection_of
from .dialog import Selection
from .exports import ExportMixin

__all__ = ["EXPORT_ACTIONS", "ExportActionsMixin"]

#: Django 6.1's location of the changelist's actions (``None`` before 6.1).
CHANGE_LIST = getattr(getattr(admin, "ActionLocation", None), "CHANGE_LIST", None)


class ExportActionsMixin(ExportMixin):
    """The export dialog (:class:`ExportMixin`) and an action that opens it for the checked
    rows (or, with "select all", every matching one):
    ``class A(ExportActionsMixin, ModelAdmin)``."""

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """Django's actions, and "Export selected …" for those who may export.

        ``action_location`` is Django 6.1's (earlier versions never pass it): the export
        acts on a changelist's rows, so a change form gets none.
        """
        location = {} if action_location is None else {"action_location": action_location}
        actions: dict[str, Any] = super().get_actions(request, **location)
        if action_location is not None and action_location != CHANGE_LIST:
            return actions
        if self.has_export_permission(request):  # (a misnamed dataset is check()'s: E020)
            for name in EXPORT_ACTIONS:
                actions[name] = self.get_action(name)
        return actions

    @admin.action(description="Export selected %(verbose_name_plural)s…")
    def export_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponseRedirect:
        """Open the export dialog for the changelist's filters and the checked rows."""
        selection = Selection(request.GET.urlencode(), selection_of(request))
        return HttpResponseRedirect(self.export_dialog_url(selection))


#: The actions the mixin adds, for users who may export.
EXPORT_ACTIONS = ("export_selected",)
