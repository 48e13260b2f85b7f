"""The app's tables, each defined in the package of its concept and gathered here, where
Django looks for them (and where ``stream_exports.models`` imports keep working)."""

from __future__ import annotations

from .audit.models import AuditKind, AuditOutcome, AuditRecord, Via
from .http.limits import StreamLease
from .jobs.models import (
    FINISHED,
    ExportJob,
    ExportPartition,
    JobEvent,
    JobLogLine,
    JobStatus,
    PartitionStatus,
    job_storage,
)
from .links.models import LinkRevocation
from .moved import moved_names

__all__ = [
    "FINISHED",
    "AuditKind",
    "AuditOutcome",
    "AuditRecord",
    "ExportJob",
    "ExportPartition",
    "JobEvent",
    "JobLogLine",
    "JobStatus",
    "LinkRevocation",
    "PartitionStatus",
    "StreamLease",
    "Via",
    "job_storage",
]

__getattr__ = moved_names(
    __name__,
    {
        "Status": "stream_exports.models.JobStatus",
        "Outcome": "stream_exports.models.AuditOutcome",
    },
)
