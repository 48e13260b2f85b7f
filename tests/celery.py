"""The test project's Celery app, wired as a Django project wires its own: settings from
``CELERY_*``, tasks found in each installed app's ``tasks`` module (stream_exports's)."""

from __future__ import annotations

from celery import Celery

app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
