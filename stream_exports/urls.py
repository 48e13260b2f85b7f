"""URLs; include with ``path("exports/", include("stream_exports.urls"))``. Each format
has its export route, named for it (``stream_exports:ndjson``, ``stream_exports:csv``)."""

from django.urls import path

from .core.formats.registry import formats
from .http import job_views, views

app_name = "stream_exports"

urlpatterns = [
    path("", views.dataset_list, name="index"),
    path("health", views.health, name="health"),
    path("openapi.json", views.openapi_document, name="openapi"),
    path("links/revoke", views.revoke_links, name="revoke-links"),
    *(
        path(f"<slug:name>.{format.name}", views.export, {"format": format.name}, name=format.name)
        for format in formats()
    ),
    path("<slug:name>/jobs", job_views.start_job, name="jobs"),
    path("jobs/<uuid:job_id>", job_views.job_detail, name="job"),
    path("jobs/<uuid:job_id>/events", job_views.job_events, name="job-events"),
    path("jobs/<uuid:job_id>/log", job_views.job_log, name="job-log"),
    path("jobs/<uuid:job_id>/download", job_views.job_download, name="job-download"),
    path("jobs/<uuid:job_id>/cancel", job_views.job_cancel, name="job-cancel"),
]
