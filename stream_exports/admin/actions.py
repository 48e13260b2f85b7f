"""Export actions for any ModelAdmin: stream the changelist's rows now, or start a job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core import checks
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone

from ..core.datasets import Dataset, ExportNotAllowed, UnknownDataset, registry
from ..core.formats import MEDIA_TYPES, export_chunks
from ..core.ndjson import Position
from ..core.plan import RowPlan
from ..core.query import CSV, NDJSON
from ..http.audit import origin
from ..http.measure import Stream
from ..http.responses import open_stream
from ..jobs.lifecycle import create_job
from ..jobs.runners import submit_on_commit
from .changelists import describe_changelist

__all__ = ["ExportActionsMixin"]

#: Django 6.1's location of the changelist's actions (``None`` before 6.1).
CHANGE_LIST = getattr(getattr(admin, "ActionLocation", None), "CHANGE_LIST", None)

# A mixin for ModelAdmin subclasses: type-checked as one, a plain class at run time.
if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin
else:
    _ModelAdmin = object


class ExportActionsMixin(_ModelAdmin):
    """NDJSON export actions for a ModelAdmin: ``class A(ExportActionsMixin, ModelAdmin)``.

    ``export_dataset`` names the registered dataset whose fields, cursor and
    access rule apply; the rows are the changelist's (filters, search,
    ordering), the checked ones or, with "select all", every matching one.
    """

    #: The name of the registered dataset whose fields, cursor and access rule apply.
    export_dataset: str = ""

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Django's ModelAdmin checks, and that ``export_dataset`` names a dataset."""
        errors: list[checks.CheckMessage] = super().check(**kwargs)
        if registry.get(self.export_dataset) is None:
            known = ", ".join(d.name for d in registry) or "none"
            errors.append(
                checks.Error(
                    f"{type(self).__name__}.export_dataset is {self.export_dataset!r}, "
                    "which names no registered dataset.",
                    hint=f"Registered datasets: {known}.",
                    obj=type(self),
                    id="stream_exports.E020",
                )
            )
        return errors

    def get_export_dataset(self, request: HttpRequest) -> Dataset:
        """The dataset if ``request.user`` may export it; ``PermissionDenied`` otherwise."""
        try:
            return registry.allowed(self.export_dataset, request.user)
        except (UnknownDataset, ExportNotAllowed):
            raise PermissionDenied from None

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """Django's actions, and the export actions on the changelist.

        ``action_location`` is Django 6.1's (earlier versions never pass it): the
        export actions act on a changelist's rows, so a change form gets none.
        """
        location = {} if action_location is None else {"action_location": action_location}
        actions: dict[str, Any] = super().get_actions(request, **location)
        if action_location is not None and action_location != CHANGE_LIST:
            return actions
        try:
            self.get_export_dataset(request)
        except PermissionDenied:
            return actions  # (a misnamed dataset is reported by check(): E020)
        for name in EXPORT_ACTIONS:
            actions[name] = self.get_action(name)
        return actions

    def export_now(self, request: HttpRequest, queryset: QuerySet, format: str) -> HttpResponseBase:
        """Stream the changelist's rows in ``format``, in the changelist's order."""
        dataset = self.get_export_dataset(request)
        fields = tuple(dataset.fields)
        plan = RowPlan.in_queryset_order(dataset, queryset, fields)
        filename = f"{dataset.name}-{timezone.now():%Y%m%dT%H%M%SZ}.{format}"
        label, position = f"admin export {dataset.name!r}", Position()
        changelist = describe_changelist(request, self)
        stream = Stream(
            "admin-export",
            format=format,
            dataset=dataset.name,
            position=position,
            params={"source": changelist["description"], "selected": _selected(changelist)},
            fields=list(fields),
        )
        return open_stream(
            request,
            request.user,
            lambda: export_chunks(format, plan, fields, label=label, position=position),
            MEDIA_TYPES[format],
            filename,
            compress=True,
            stream=stream,
        )

    def export_in_background(
        self, request: HttpRequest, queryset: QuerySet, format: str
    ) -> HttpResponse:
        """Start a job over the changelist's rows in ``format``; open its live page."""
        dataset = self.get_export_dataset(request)
        source = describe_changelist(request, self)
        job = create_job(
            dataset, {}, request.user, source=source, format=format, origin=origin(request)
        )
        submit_on_commit(job.pk)
        return redirect("admin:stream_exports_exportjob_change", job.pk)

    @admin.action(description="Export selected %(verbose_name_plural)s as NDJSON now")
    def export_ndjson_now(self, request: HttpRequest, queryset: QuerySet) -> HttpResponseBase:
        return self.export_now(request, queryset, NDJSON)

    @admin.action(description="Export selected %(verbose_name_plural)s as NDJSON in background")
    def export_ndjson_background(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return self.export_in_background(request, queryset, NDJSON)

    @admin.action(description="Export selected %(verbose_name_plural)s as CSV now")
    def export_csv_now(self, request: HttpRequest, queryset: QuerySet) -> HttpResponseBase:
        return self.export_now(request, queryset, CSV)

    @admin.action(description="Export selected %(verbose_name_plural)s as CSV in background")
    def export_csv_background(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return self.export_in_background(request, queryset, CSV)


def _selected(changelist: dict[str, Any]) -> int | str:
    """How many rows were checked, or ``"all"`` ("select all")."""
    selected = changelist.get("selected")
    return "all" if selected is None else len(selected)


#: The actions the mixin adds, for users the dataset allows.
EXPORT_ACTIONS = (
    "export_ndjson_now",
    "export_ndjson_background",
    "export_csv_now",
    "export_csv_background",
)
