# As in a Django project that runs Celery: its app is set up with Django, so that shared
# tasks (stream_exports.tasks.celery) are sent through it.
from .celery import app as celery_app

__all__ = ["celery_app"]
