"""The project's URLs, and the contenders' views under /bench/ (no authentication: loopback)."""

from django.urls import path

from project.urls import urlpatterns as project_urls

from . import views

urlpatterns = [
    *project_urls,
    path("bench/naive.ndjson", views.naive),
    path("bench/values.ndjson", views.values_orjson),
    path("bench/whole.json", views.whole),
    path("bench/import-export.json", views.import_export),
]
