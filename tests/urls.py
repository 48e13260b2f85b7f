"""The test project's URLs: the admin, the exports API, and Lambda's pass-through path."""

from django.contrib import admin
from django.urls import include, path

from stream_exports.aws.events import lambda_event

urlpatterns = [
    path("admin/", admin.site.urls),
    path("exports/", include("stream_exports.urls")),
    # Lambda Web Adapter's pass-through path: jobs started by LambdaRunner.
    path("events", lambda_event),
]
