from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from stream_exports.aws.events import lambda_event

urlpatterns = [
    path("", RedirectView.as_view(url="/exports/", permanent=False)),
    path("admin/", admin.site.urls),
    path("exports/", include("stream_exports.urls")),
    # Lambda Web Adapter's pass-through path: jobs started by LambdaRunner (deploy/).
    path("events", lambda_event),
]
