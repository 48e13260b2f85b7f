"""ASGI entry point of the test project (uvicorn or daphne tests.asgi:application): job
streams served by ``JobStreams``; ``tests.asgi:django_application`` is Django's alone."""

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

from stream_exports.asgi import JobStreams

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

django_application = get_asgi_application()
application = JobStreams(django_application)
if settings.DEBUG:
    # The admin's CSS and JS for the browser tests, as runserver would serve them.
    application = ASGIStaticFilesHandler(application)
