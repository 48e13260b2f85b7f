"""URLs; include with ``path("exports/", include("stream_exports.urls"))``."""

from django.urls import path

from . import views

app_name = "stream_exports"

urlpatterns = [
    path("", views.dataset_list, name="index"),
    path("<slug:name>.ndjson", views.export_ndjson, name="ndjson"),
]
