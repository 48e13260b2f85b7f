"""Excel: an export's rows as an XLSX workbook, streamed (``core.workbook`` writes it).

Each column's cells are typed by its model field: integers, decimals (shown with their
field's decimal places), floats, booleans, dates, datetimes, times and durations as
such; text, UUIDs and JSON fields (the database's JSON text) as text, never a formula.
A choice field is its stored value, typed as its field, or with ``labels`` its choice's
label (text); the header row has the fields' names, or with ``labels`` their labels.
An annotation is typed by its ``output_field``.

Datetimes are shown as wall times in Django's current time zone
(``timezone.get_current_timezone()``: the zone activated for the request, else
``TIME_ZONE``), since a spreadsheet's dates have no zone. With ``USE_TZ = False`` the
database gives naive datetimes, written as they are.

A workbook is a zip: it is never compressed again (``compressible``), and a job writes
it in one run (``continuable``). A failure after the first byte is logged and raised
again, so the server breaks the connection: the client sees a cut file, never a short
valid one.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing
from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.utils import timezone

from ..columns import Column
from ..workbook import MEDIA_TYPE, CellKind, workbook_chunks
from ..workbook import Column as SheetColumn
from .base import Content, Format, Position, failed

__all__ = ["XLSX", "cell_kind", "sheet_columns"]

#: The kind of each model field that is not text, by its internal type.
_KINDS: dict[str, CellKind] = {
    "DecimalField": CellKind.DECIMAL,
    "FloatField": CellKind.FLOAT,
    "BooleanField": CellKind.BOOLEAN,
    "NullBooleanField": CellKind.BOOLEAN,
    "DateField": CellKind.DATE,
    "DateTimeField": CellKind.DATETIME,
    "TimeField": CellKind.TIME,
    "DurationField": CellKind.DURATION,
    "JSONField": CellKind.JSON,
}


def cell_kind(field: models.Field | None) -> CellKind:
    """How a model field's values are written (a foreign key: as its target's; none: text)."""
    if field is None:
        return CellKind.TEXT
    target = getattr(field, "target_field", None) if field.is_relation else None
    if isinstance(target, models.Field):
        return cell_kind(target)
    internal = field.get_internal_type()
    if internal.endswith(("IntegerField", "AutoField")):
        return CellKind.INTEGER
    return _KINDS.get(internal, CellKind.TEXT)


def _number_format(field: models.Field | None) -> str | None:
    """A decimal field's places as a number format (``0.00``); None for the rest."""
    places = getattr(field, "decimal_places", None)
    if not isinstance(field, models.DecimalField) or places is None:
        return None
    return "0." + "0" * places if places > 0 else "0"


def _field(content: Content, column: Column) -> models.Field | None:
    """The field behind ``column``: its model field, else its annotation's output field
    (``Query.annotations``, read with care: none when it cannot be told)."""
    if column.field is not None:
        return column.field
    annotations = getattr(content.plan.queryset.query, "annotations", None) or {}
    try:
        output = getattr(annotations.get(column.name), "output_field", None)
    except FieldError:  # (an expression whose type Django cannot tell)
        return None
    return output if isinstance(output, models.Field) else None


def sheet_columns(content: Content) -> list[SheetColumn]:
    """The workbook's columns: headers (labels or names), kinds and number formats."""
    labelled = content.labelled
    columns = []
    for index, (column, header) in enumerate(zip(content.columns, content.headers, strict=True)):
        field = _field(content, column)
        kind = CellKind.TEXT if index in labelled else cell_kind(field)
        number_format = _number_format(field) if kind is CellKind.DECIMAL else None
        columns.append(SheetColumn(header, kind, number_format=number_format))
    return columns


class XLSX(Format):
    """An Excel workbook: a bold, frozen header row with an autofilter, typed cells, and
    past 1,048,576 rows a next sheet (``core.workbook`` has every case)."""

    name = "xlsx"
    title = "Excel"
    media_type = MEDIA_TYPE
    extension = "xlsx"
    description = (
        "An Excel workbook (Office Open XML), streamed: a header row of field names (with "
        "`labels`, the fields' labels), then a row per record in typed cells; past "
        "1,048,576 rows, a next sheet."
    )
    compressible = False
    continuable = False
    options = ("labels",)

    def chunks(self, content: Content, position: Position) -> Generator[bytes, None, None]:
        """The workbook's bytes as they are made, the rows read a batch at a time. A
        failure after the first byte is logged and raised again: the server then breaks
        the connection."""
        try:
            chunks = workbook_chunks(
                sheet_columns(content),
                _counted(content, position),
                tz=timezone.get_current_timezone(),
                sheet_title=content.title,
            )
            with closing(chunks):
                yield from chunks
        except Exception as exc:
            failed(content, position, exc)
            raise


def _counted(content: Content, at: Position) -> Iterator[list[tuple[Any, ...]]]:
    """The rows, a batch at a time, counted in ``at`` as the workbook takes them."""
    index = content.plan.cursor_index
    with closing(content.batches()) as batches:
        for batch in batches:
            at.rows += len(batch)
            at.last = batch[-1][index]
            yield batch
