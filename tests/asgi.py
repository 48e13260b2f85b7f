"""ASGI entry point of the test project (uvicorn or daphne tests.asgi:application)."""

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

application = get_asgi_application()
if settings.DEBUG:
    # The admin's CSS and JS for the browser tests, as runserver would serve them.
    application = ASGIStaticFilesHandler(application)
