"""The bench as a Django app: installed only when job events are forwarded (bench.forward)."""

from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_save


class BenchConfig(AppConfig):
    name = "bench"

    def ready(self) -> None:
        from stream_exports.models import JobEvent

        from .forward import job_event_saved

        post_save.connect(job_event_saved, sender=JobEvent, dispatch_uid="bench.forward")
