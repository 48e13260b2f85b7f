"""The columns of an export: each field's name, its label and the model field behind it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import models
from django.utils.encoding import force_str
from django.utils.text import capfirst

__all__ = ["Column", "columns_of"]


@dataclass(frozen=True)
class Column:
    """One exported field: ``name`` as the API writes it, ``label`` as people read it (the
    model field's verbose name, or the dataset's own label), and the model ``field`` behind
    it (None for an annotation)."""

    name: str
    label: str
    field: models.Field | None = None

    @cached_property
    def choices(self) -> Mapping[Any, str] | None:
        """A choice field's stored values and their labels, or None."""
        if self.field is None or not self.field.choices:
            return None
        return {value: force_str(label) for value, label in self.field.flatchoices}


def _model_field(model: type[models.Model], name: str) -> models.Field | None:
    """The model's own field named ``name`` (``pk`` is the primary key), or None."""
    try:
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    except Exception:
        return None
    return field if isinstance(field, models.Field) else None


def columns_of(
    model: type[models.Model], names: Sequence[str], labels: Mapping[str, str] | None = None
) -> tuple[Column, ...]:
    """The columns ``names`` of ``model``'s rows, labelled by ``labels`` where given, else by
    their fields' verbose names (else the names)."""
    labels = labels or {}
    columns = []
    for name in names:
        field = _model_field(model, name)
        label = labels.get(name) or (capfirst(force_str(field.verbose_name)) if field else name)
        columns.append(Column(name, label, field))
    return tuple(columns)
