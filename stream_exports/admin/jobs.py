"""Export jobs in the admin: the list, and a live page per job (progress, log, download)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from ..audit.trail import origin
from ..core.datasets import ExportNotAllowed, UnknownDataset, registry
from ..core.formats.registry import format_title
from ..jobs.lifecycle import create_job, request_cancel
from ..jobs.models import ExportJob, ExportJobQuerySet, JobStatus
from ..notify.links import site_of
from ..runners.base import submit_on_commit
from .pages import breadcrumbs

__all__ = ["ExportJobAdmin"]


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
        # The default manager's queryset; django-stubs types ModelAdmin's as a plain QuerySet.
        jobs: ExportJobQuerySet = super().get_queryset(request)  # type: ignore[assignment]
        return jobs.visible_to(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: ExportJob | None = None) -> bool:
        user = request.user
        return self.has_module_permission(request) and (obj is None or obj.visible_to(user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
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
        title = f"{job.dataset} export {str(job.pk)[:8]}"
        jobs = reverse(f"{self.admin_site.name}:stream_exports_exportjob_changelist")
        context = {
            **self.admin_site.each_context(request),
            **breadcrumbs(self, jobs, title),
            "opts": self.model._meta,
            "title": title,
            "subtitle": None,
            "job": job,
            "urls": urls,
            "finished": job.finished,
            "can_rerun": job.status in (JobStatus.FAILED, JobStatus.CANCELLED),
            "partitions": job.partition_status(),
            "format_title": format_title(job.format),
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
        """The same export again (its rows, format, fields and options), as a new job."""
        old = self._job(request, job_id)
        try:
            dataset = registry.allowed(old.dataset, request.user)
        except (UnknownDataset, ExportNotAllowed):
            raise PermissionDenied from None
        job = create_job(
            dataset,
            old.params,
            request.user,
            source=old.source or None,
            format=old.format,
            origin=origin(request),
            notify=old.notify,
            site=site_of(request),
        )
        submit_on_commit(job.pk)
        messages.info(request, format_html("Started again as job {}.", str(job.pk)[:8]))
        return self._to_page(job)
