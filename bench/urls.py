"""The project's URLs, and the contenders' views under /bench/ (no authentication: loopback);
django-eventstream's events of a job when it is installed (``BENCH_FORWARD=eventstream``)."""

from django.apps import apps
from django.urls import include, path

from project.urls import urlpatterns as project_urls

from . import views
from .forward import eventstream_channel

urlpatterns = [
    *project_urls,
    path("bench/naive.ndjson", views.naive),
    path("bench/values.ndjson", views.values_orjson),
    path("bench/whole.json", views.whole),
    path("bench/import-export.json", views.import_export),
    path("bench/import-export.xlsx", views.import_export_xlsx),
    path("bench/xlsxwriter.xlsx", views.xlsxwriter_file),
]

if apps.is_installed("django_eventstream"):
    import django_eventstream

    # As its README routes a channel per object: the job's channel from the URL.
    urlpatterns.append(
        path(
            "bench/eventstream/jobs/<uuid:job_id>/events/",
            include(django_eventstream.urls),
            {"format-channels": [eventstream_channel("{job_id}")]},
        )
    )
