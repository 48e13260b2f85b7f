"""Exports from a ModelAdmin's changelist: the export dialog, its hooks, now or in a job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.messages import MessageFailure
from django.core import checks
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import content_disposition_header

from ..audit.trail import AuditKind, origin
from ..conf import conf
from ..core.columns import columns_of
from ..core.datasets import Dataset, ExportNotAllowed, UnknownDataset, registry
from ..core.errors import Refusal
from ..core.exports import Export
from ..core.formats.base import Format, WriteOptions
from ..core.formats.registry import formats, get_format
from ..core.plan import read_from
from ..core.query import ParamError, options_of
from ..http.exports import export_response
from ..jobs.lifecycle import create_job
from ..notify.links import site_of
from ..runners.base import submit_on_commit
from .changelists import (
    changelist_request,
    changelist_rows,
    changelist_source,
    model_admin_of,
    selection_of,
)
from .dialog import (
    Dialog,
    ExportForm,
    Mode,
    Selection,
    bookmark,
    in_dialog_order,
    param_errors,
    parse_selection,
)
from .pages import breadcrumbs

__all__ = ["ExportMixin", "job_rows"]

#: The dialog's template, in the admin's look.
DIALOG_TEMPLATE = "admin/stream_exports/export.html"

# A mixin for ModelAdmin subclasses: type-checked as one, a plain class at run time.
if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin
else:
    _ModelAdmin = object


class ExportMixin(_ModelAdmin):
    """An export dialog for a ModelAdmin's changelist: ``class A(ExportMixin, ModelAdmin)``.

    The changelist gets an "Export" button (its filters and search go along); the dialog
    offers the formats, the fields and now or in the background, with the row count.
    ``export_dataset`` names the registered dataset whose fields, cursor, access rule and
    rows per user apply; the rows are the changelist's that are also the dataset's for
    the user, in the changelist's order.
    """

    #: The name of the registered dataset whose fields, cursor and access rule apply.
    export_dataset: str = ""
    #: The changelist, with an "Export" button (extend it if you set your own).
    change_list_template = "admin/stream_exports/change_list.html"

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

    # Hooks: what a project may change.

    def get_export_dataset(self, request: HttpRequest) -> Dataset:
        """The dataset if ``request.user`` may export it; ``PermissionDenied`` otherwise."""
        try:
            return registry.allowed(self.export_dataset, request.user)
        except (UnknownDataset, ExportNotAllowed):
            raise PermissionDenied from None

    def has_export_permission(self, request: HttpRequest) -> bool:
        """Whether ``request.user`` may export from this changelist: the dataset's rule
        (by default, staff with the model's ``EXPORT_PERMISSION``)."""
        try:
            self.get_export_dataset(request)
        except PermissionDenied:
            return False
        return True

    def get_export_formats(self, request: HttpRequest) -> Sequence[Format]:
        """The formats offered (every registered one; the dialog lists Excel, CSV, NDJSON
        first)."""
        return list(formats())

    def get_export_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The rows to export: the changelist's (its filters, search, ordering; the checked
        rows or, with "select all", every matching one). Override to narrow them. In a
        background job, ``request`` is a GET of the changelist as the job's owner."""
        return queryset

    def get_export_fields(self, request: HttpRequest) -> Sequence[str]:
        """The fields offered, in order: the dataset's. Override to offer fewer (a job
        takes the dataset's fields only)."""
        return tuple(self.get_export_dataset(request).fields)

    def get_export_filename(self, request: HttpRequest, export: Export) -> str:
        """The name a download is saved as: ``<dataset>-<UTC time>.<extension>``."""
        return export.filename()

    # What the hooks make.

    def export_rows(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """What is exported of the changelist's ``queryset``: ``get_export_queryset``'s
        rows that are also the dataset's rows for ``request.user``."""
        dataset = self.get_export_dataset(request)
        return dataset.restrict(self.get_export_queryset(request, queryset), request.user)

    def export_now(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        format: Format | str,
        *,
        fields: Sequence[str] | None = None,
        source: Mapping[str, Any] | None = None,
    ) -> HttpResponseBase:
        """Stream ``queryset``'s rows (a changelist's: ``source``) in ``format``, in its
        order, with the chosen ``fields`` (default: ``get_export_fields``), headers and
        choices as people read them."""
        dataset = self.get_export_dataset(request)
        format = get_format(format)
        rows = self.export_rows(request, queryset)
        fields = fields or self.get_export_fields(request)
        label = f"admin export {dataset.name!r}"
        options = WriteOptions(labels=True)
        export = Export.of_rows(dataset, rows, fields, format, options, label=label)
        source = source or self._source_of_action(request)
        selected = source.get("selected")
        params = {
            "source": source["description"],
            "selected": "all" if selected is None else len(selected),
        }
        response = export_response(
            request, request.user, export, kind=AuditKind.ADMIN_EXPORT, params=params
        )
        if response.has_header("Content-Disposition"):
            filename = self.get_export_filename(request, export)
            response["Content-Disposition"] = content_disposition_header(True, filename) or ""
        return response

    def export_in_background(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        format: Format | str,
        *,
        fields: Sequence[str] | None = None,
        source: Mapping[str, Any] | None = None,
        notify: bool = True,
    ) -> HttpResponse:
        """Start a job over the changelist's rows (``source``; the job rebuilds them as
        ``queryset``'s, through the same hooks) in ``format``; open its live page.
        ``notify``: mail the user when it ends."""
        dataset = self.get_export_dataset(request)
        format = get_format(format)
        params = {"fields": ",".join(fields or self.get_export_fields(request))}
        if "labels" in options_of(format):
            params["labels"] = "1"
        job = create_job(
            dataset,
            params,
            request.user,
            source=dict(source or self._source_of_action(request)),
            format=format,
            origin=origin(request),
            notify=notify,
            site=site_of(request),
        )
        submit_on_commit(job.pk)
        return redirect("admin:stream_exports_exportjob_change", job.pk)

    def _source_of_action(self, request: HttpRequest) -> dict[str, Any]:
        """The changelist an admin action was posted from (a project's own action)."""
        return changelist_source(self, request.GET.urlencode(), selection_of(request))

    # The dialog.

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        view = self.admin_site.admin_view(self.export_view)
        name = f"{opts.app_label}_{opts.model_name}_export"
        return [path("export/", view, name=name), *super().get_urls()]

    def export_dialog_url(self, selection: Selection) -> str:
        """The dialog's URL for a changelist's rows (its query string, the checked keys)."""
        opts = self.model._meta
        site = self.admin_site.name
        url = reverse(f"{site}:{opts.app_label}_{opts.model_name}_export", current_app=site)
        rows = bookmark(selection)
        return f"{url}?{rows}" if rows else url

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """The changelist, with an "Export" button for those who may export."""
        if self.has_export_permission(request):
            selection = Selection(request.GET.urlencode(), None)
            extra_context = {
                **(extra_context or {}),
                "export_url": self.export_dialog_url(selection),
            }
        return super().changelist_view(request, extra_context)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The export dialog: GET shows it (a first visit, or a bookmarked choice) or, with
        ``mode=now``, streams the file; POST starts a background export. A bad query is
        the dialog again, saying what is wrong (400)."""
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not (self.has_view_permission(request) and self.has_export_permission(request)):
            raise PermissionDenied
        params = request.POST if request.method == "POST" else request.GET
        dataset = self.get_export_dataset(request)
        columns = columns_of(dataset.model, self.get_export_fields(request), dataset.labels)
        formats = in_dialog_order(self.get_export_formats(request))
        form = ExportForm(params if ExportForm.is_choice(params) else None, formats, columns)
        dialog = Dialog(form, conf.ADMIN_EXPORT_NOW_MAX_ROWS)
        dialog.errors += param_errors(params)
        rows = self._dialog_rows(request, params, dialog)
        choice = dialog.check()
        if (
            rows is None
            or choice is None
            or (choice.mode, request.method) == (Mode.BACKGROUND, "GET")
        ):
            return self._render_dialog(request, dialog)
        source, queryset = rows
        try:
            if choice.mode == Mode.NOW:
                return self.export_now(
                    request, queryset, choice.format, fields=choice.fields, source=source
                )
            return self.export_in_background(
                request,
                queryset,
                choice.format,
                fields=choice.fields,
                source=source,
                notify=choice.notify,
            )
        except Refusal as refused:
            dialog.errors.append(refused.message)
            return self._render_dialog(request, dialog, refused.status)

    def _dialog_rows(
        self, request: HttpRequest, params: QueryDict, dialog: Dialog
    ) -> tuple[dict[str, Any], QuerySet] | None:
        """The changelist the dialog's query names, as a job's source and as rows, their
        count in ``dialog``; None, and what is wrong in ``dialog.errors``, if the query is."""
        try:
            dialog.selection = selection = parse_selection(params, self.model)
        except ParamError as bad:
            dialog.errors.append(bad.message)
        if dialog.errors:
            return None
        source = changelist_source(self, selection.query, selection.selected)
        try:
            rows_request = changelist_request(source, request.user)
            queryset = changelist_rows(self, rows_request, selection.selected)
            dialog.count = read_from(self.export_rows(request, queryset)).count()
        except (IncorrectLookupParameters, MessageFailure) as exc:  # (the latter: a bad search)
            dialog.errors.append(f"_changelist_filters: the list's filters are not valid ({exc}).")
            return None
        return source, queryset

    def _render_dialog(
        self, request: HttpRequest, dialog: Dialog, status: int | None = None
    ) -> TemplateResponse:
        opts = self.model._meta
        site = self.admin_site.name
        changelist = reverse(f"{site}:{opts.app_label}_{opts.model_name}_changelist")
        query, selected = dialog.selection.query, dialog.selection.selected
        noun = opts.verbose_name if dialog.count == 1 else opts.verbose_name_plural
        count = f"{dialog.count or 0:,} {noun}"
        if selected is not None:
            rows = f"{count} of the {len(selected):,} checked in the list."
        elif query:
            rows = f"{count}: every one the list shows, with its filters and search."
        else:
            rows = f"{count}: every one in the list."
        changelist_url = f"{changelist}?{query}" if query else changelist
        context = {
            **self.admin_site.each_context(request),
            **dialog.context(),
            **breadcrumbs(self, changelist_url, "Export"),
            "opts": opts,
            "title": f"Export {opts.verbose_name_plural}",
            "rows_text": rows,
            "subtitle": None,
            "changelist_url": changelist_url,
        }
        status = status or (400 if dialog.errors else 200)
        return TemplateResponse(request, DIALOG_TEMPLATE, context, status=status)


def job_rows(source: Mapping[str, Any], user: Any) -> QuerySet:
    """A background export's rows (``jobs.sources``): its changelist's, as ``user`` sees
    them, through its ModelAdmin's export hooks."""
    model_admin = model_admin_of(source)
    if not isinstance(model_admin, ExportMixin):
        raise ImproperlyConfigured(f"{type(model_admin).__name__} no longer exports.")
    request = changelist_request(source, user)
    return model_admin.export_rows(
        request, changelist_rows(model_admin, request, source.get("selected"))
    )
