# As in a Django project that runs Celery: its app is set up with Django, so that shared
# tasks (stream_exports.tasks.celery) are sent through it. (bench/ and the demo's tests
# import tests.servers without the test extra, so without Celery.)
from importlib.util import find_spec

if find_spec("celery") is not None:
    from .celery import app as celery_app

    __all__ = ["celery_app"]
