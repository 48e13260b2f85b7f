"""An export as an HTTP response: the one way the export URL, the admin's "export now"
and a project's own views serve one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from ..audit.trail import AuditKind
from ..core.exports import Export
from ..core.formats.base import Position
from .measure import Stream
from .responses import open_stream

__all__ = ["export_response"]


def export_response(
    request: HttpRequest,
    user: Any,
    export: Export,
    *,
    download: bool = True,
    kind: str = AuditKind.EXPORT,
    params: dict[str, Any] | None = None,
) -> HttpResponseBase:
    """``export`` streamed to ``request`` as ``user`` wants it: compressed as
    ``Accept-Encoding`` allows (where its format may be), capped, measured and audited
    (``kind``, with ``params``: what was asked); with ``download``, as an attachment
    named for the dataset and the time. The query starts with the first chunk."""
    position = Position()
    stream = Stream(
        kind,
        format=export.format.name,
        dataset=export.dataset.name,
        position=position,
        params=params or {},
        fields=list(export.fields),
    )
    return open_stream(
        request,
        user,
        lambda: export.chunks(position),
        export.format.media_type,
        export.filename() if download else None,
        compress=export.format.compressible,
        stream=stream,
    )
