"""Celery's ``app.autodiscover_tasks()`` imports ``<app>.tasks`` of each installed app:
this package, which registers the Celery task of
:class:`~stream_exports.runners.CeleryRunner` (when Celery is installed). The runners
themselves live in :mod:`stream_exports.runners`; the modules here are the paths they had
before, kept until 1.0."""

from importlib.util import find_spec

if find_spec("celery") is not None:
    from ..runners import on_celery  # noqa: F401  (registers the shared task)
