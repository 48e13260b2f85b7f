from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/exports/", permanent=False)),
    path("admin/", admin.site.urls),
    path("exports/", include("stream_exports.urls")),
]
