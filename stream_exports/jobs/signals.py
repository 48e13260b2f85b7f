"""Signals a project can hear jobs by."""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["job_finished"]

#: Sent once when a job ends (succeeded, failed or cancelled), after its last event, with
#: ``sender=ExportJob`` and ``job`` (its ``status`` and ``error`` final). A receiver that
#: raises is logged; the job stays as it ended.
job_finished = Signal()
