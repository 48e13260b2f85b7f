"""The formats an export is written in, by name: their media types and their chunks."""

from __future__ import annotations

from collections.abc import Generator

from .csv_format import MEDIA_TYPE as CSV_MEDIA_TYPE
from .csv_format import csv_chunks
from .ndjson import MEDIA_TYPE as NDJSON_MEDIA_TYPE
from .ndjson import Position, ndjson_chunks
from .plan import RowPlan
from .query import CSV, NDJSON

__all__ = ["MEDIA_TYPES", "export_chunks"]

MEDIA_TYPES = {NDJSON: NDJSON_MEDIA_TYPE, CSV: CSV_MEDIA_TYPE}


def export_chunks(
    format: str,
    plan: RowPlan,
    fields: tuple[str, ...],
    *,
    label: str,
    trailer: bool = True,
    bom: bool = False,
    header: bool = True,
    position: Position | None = None,
) -> Generator[bytes, None, None]:
    """``plan``'s rows in ``format``: NDJSON (``trailer``) or CSV (``bom``, ``header``)."""
    if format == CSV:
        return csv_chunks(plan, fields, bom=bom, header=header, label=label, position=position)
    return ndjson_chunks(plan, fields, with_trailer=trailer, label=label, position=position)
