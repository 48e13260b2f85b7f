"""ASGI entry point (uvicorn project.asgi:application, daphne project.asgi:application)."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

from stream_exports.asgi import JobStreams

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = JobStreams(get_asgi_application())
if settings.DEBUG:
    # The admin's CSS and JS in the demo, as runserver would serve them.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
