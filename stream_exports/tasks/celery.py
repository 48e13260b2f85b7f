"""Moved to :mod:`stream_exports.runners.on_celery`; this path warns and goes in 1.0."""

from ..moved import moved_module
from ..runners.on_celery import *  # noqa: F403

moved_module(__name__, "stream_exports.runners.on_celery")
