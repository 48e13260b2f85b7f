"""The admin face: export actions for any ModelAdmin, and a live page per job."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from .changelists import changelist_plan, describe_changelist
from .datasets import Dataset, registry
from .jobs import create_job, request_cancel
from .models import ExportJob, Status
from .responses import NDJSON, StreamResponse
from .runners import submit_on_commit
from .streams import ndjson_chunks


class ExportActionsMixin:
    """NDJSON export actions for a ModelAdmin: ``class A(ExportActionsMixin, ModelAdmin)``.

    ``export_dataset`` names the registered dataset whose fields, cursor and
    access rule apply; the rows are the changelist's (filters, search,
    ordering), the checked ones or, with "select all", every matching one.
    """

    export_dataset: str = ""

    def get_export_dataset(self) -> Dataset:
        dataset = registry.get(self.export_dataset)
        if dataset is None:
            raise LookupError(f"{type(self).__name__}.export_dataset names no registered dataset.")
        return dataset

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        if self.get_export_dataset().has_permission(request.user):
            for name in ("export_ndjson_now", "export_ndjson_background"):
                actions[name] = self.get_action(name)  # type: ignore[attr-defined]
        return actions

    def _allowed_dataset(self, request: HttpRequest) -> Dataset:
        dataset = self.get_export_dataset()
        if not dataset.has_permission(request.user):
            raise PermissionDenied
        return dataset

    @admin.action(description="Export selected %(verbose_name_plural)s as NDJSON now")
    def export_ndjson_now(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        dataset = self._allowed_dataset(request)
        plan = changelist_plan(dataset, queryset, tuple(dataset.fields))
        chunks = ndjson_chunks(plan, tuple(dataset.fields), label=f"admin export {dataset.name!r}")
        filename = f"{dataset.name}-{timezone.now():%Y%m%dT%H%M%SZ}.ndjson"
        return StreamResponse(request, chunks, NDJSON, filename)

    @admin.action(description="Export selected %(verbose_name_plural)s as NDJSON in background")
    def export_ndjson_background(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        dataset = self._allowed_dataset(request)
        source = describe_changelist(request, self)  # type: ignore[arg-type]
        job = create_job(dataset, {}, request.user, source=source)
        submit_on_commit(job.pk)
        return redirect("admin:stream_exports_exportjob_change", job.pk)


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    """Jobs: the owner's own (a superuser's: all), each with a live page."""

    list_display = [
        "short_id",
        "dataset",
        "status",
        "owner",
        "rows",
        "total",
        "duration",
        "created_at",
    ]
    list_filter = ["status", "dataset"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    change_form_template = "admin/stream_exports/exportjob/job.html"

    @admin.display(description="job", ordering="id")
    def short_id(self, job: ExportJob) -> str:
        return str(job.pk)[:8]

    @admin.display(description="duration")
    def duration(self, job: ExportJob) -> str:
        if not job.started_at:
            return "-"
        seconds = ((job.finished_at or timezone.now()) - job.started_at).total_seconds()
        return f"{seconds:.1f} s"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        jobs = super().get_queryset(request)
        return jobs if request.user.is_superuser else jobs.filter(owner=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: ExportJob | None = None) -> bool:
        user = request.user
        return self.has_module_permission(request) and (
            obj is None or user.is_superuser or obj.owner_id == user.pk
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("<uuid:job_id>/cancel/", wrap(self.cancel_view), name="stream_exports_job_cancel"),
            path("<uuid:job_id>/rerun/", wrap(self.rerun_view), name="stream_exports_job_rerun"),
            *super().get_urls(),
        ]

    def _job(self, request: HttpRequest, job_id: Any) -> ExportJob:
        job = self.get_queryset(request).filter(pk=job_id).first()
        if job is None:
            raise Http404(f"No job {job_id} that you may see.")
        return job

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        job = self._job(request, object_id)
        urls = {
            name: reverse(f"stream_exports:{route}", args=[job.pk])
            for name, route in (
                ("events", "job-events"),
                ("log", "job-log"),
                ("download", "job-download"),
            )
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{job.dataset} export {str(job.pk)[:8]}",
            "subtitle": None,
            "job": job,
            "urls": urls,
            "finished": job.finished,
            "can_rerun": job.status in (Status.FAILED, Status.CANCELLED),
        }
        return TemplateResponse(request, self.change_form_template, context)

    @staticmethod
    def _to_page(job: ExportJob) -> HttpResponseRedirect:
        return redirect("admin:stream_exports_exportjob_change", job.pk)

    def cancel_view(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        return require_POST(self._cancel)(request, job_id)

    def _cancel(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        job = self._job(request, job_id)
        request_cancel(job)
        messages.info(request, "Cancelling: the job stops at its next chunk.")
        return self._to_page(job)

    def rerun_view(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        return require_POST(self._rerun)(request, job_id)

    def _rerun(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        old = self._job(request, job_id)
        dataset = registry.get(old.dataset)
        if dataset is None or not dataset.has_permission(request.user):
            raise PermissionDenied
        job = create_job(dataset, old.params, request.user, source=old.source or None)
        submit_on_commit(job.pk)
        messages.info(request, format_html("Started again as job {}.", str(job.pk)[:8]))
        return self._to_page(job)
