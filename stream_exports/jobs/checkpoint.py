"""Where a job run in slices continues: the one shape of ``ExportJob.checkpoint``.

A job that reaches its slice's end (``JOB_SLICE_SECONDS``, a Lambda deadline) stores a
:class:`Checkpoint` and is queued again; the next run reads it back and writes on: the
rows and cursor so far, and the half-written file's state (an S3 multipart upload and its
parts, the gzip stream's CRC and length).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Checkpoint", "FileState"]


@dataclass(frozen=True)
class FileState:
    """A job file part-way: its name, its sink's state (the upload and its parts), the
    gzip stream's state (None: not gzip) and the bytes stored so far."""

    name: str
    sink: Mapping[str, Any] = field(default_factory=dict)
    gzip: Mapping[str, int] | None = None
    stored: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sink": dict(self.sink),
            "gzip": self.gzip,
            "stored": self.stored,
        }

    @classmethod
    def from_json(cls, saved: Mapping[str, Any]) -> FileState:
        sink, gzip = saved.get("sink") or {}, saved.get("gzip")
        return cls(str(saved["name"]), sink, gzip, int(saved.get("stored", 0)))


@dataclass(frozen=True)
class Checkpoint:
    """Rows written and the cursor of the last one, bytes written, and the file's state."""

    rows: int = 0
    last: Any = None
    bytes: int = 0
    file: FileState | None = None

    def as_json(self) -> dict[str, Any]:
        file = self.file.as_json() if self.file is not None else None
        return {"rows": self.rows, "last": self.last, "bytes": self.bytes, "file": file}

    @classmethod
    def from_json(cls, saved: Mapping[str, Any] | None) -> Checkpoint | None:
        """The checkpoint a job stored, or None (it has none: it starts from the top)."""
        if not saved:
            return None
        file = saved.get("file")
        return cls(
            rows=int(saved.get("rows", 0)),
            last=saved.get("last"),
            bytes=int(saved.get("bytes", 0)),
            file=FileState.from_json(file) if file else None,
        )
