"""What to read: a dataset's rows as a plan the readers and the COPY path share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import models
from django.db.models import QuerySet
from django.db.models.functions import Cast

from .datasets import Dataset

__all__ = ["RowPlan"]


def _json_text(name: str) -> str:
    return f"stream_exports_{name}_text"


@dataclass(frozen=True)
class RowPlan:
    """A filtered queryset, its columns and the cursor to order by.

    ``ordering`` (e.g. an admin changelist's) replaces cursor order; such a
    plan is read in one query (no keyset pages) and cannot resume with ``after``.
    """

    queryset: QuerySet
    columns: Sequence[str]
    cursor: str
    after: Any = None
    limit: int | None = None
    ordering: tuple[Any, ...] = ()

    @classmethod
    def for_dataset(
        cls,
        dataset: Dataset,
        queryset: QuerySet,
        fields: Sequence[str],
        after: Any = None,
        limit: int | None = None,
        ordering: tuple[Any, ...] = (),
    ) -> RowPlan:
        """``fields`` of ``queryset``'s rows, with the dataset's cursor read too (the
        trailer's ``last`` and the keyset pages need it)."""
        cursor = dataset.cursor_column
        columns = tuple(fields) if cursor in fields else (*fields, cursor)
        return cls(queryset, columns, cursor, after, limit, ordering)

    @classmethod
    def in_queryset_order(
        cls, dataset: Dataset, queryset: QuerySet, fields: Sequence[str]
    ) -> RowPlan:
        """Read ``queryset`` in its own order (an admin changelist's), else the cursor's."""
        ordering = tuple(queryset.query.order_by) or (dataset.cursor_column,)
        return cls.for_dataset(dataset, queryset, fields, ordering=ordering)

    @property
    def cursor_index(self) -> int:
        return list(self.columns).index(self.cursor)

    def column_field(self, name: str) -> models.Field | None:
        """The model's own column named ``name``, or None (an annotation, a relation)."""
        try:
            field = self.queryset.model._meta.get_field(name)
        except Exception:
            return None
        concrete = getattr(field, "concrete", False) and not field.is_relation
        return field if concrete and isinstance(field, models.Field) else None

    @cached_property
    def json_columns(self) -> frozenset[str]:
        """Columns that are JSON fields: read as the database's JSON text, not decoded."""
        return frozenset(
            name for name in self.columns if isinstance(self.column_field(name), models.JSONField)
        )

    def select(self, after: Any, limit: int | None, *, json_as_text: bool = True) -> QuerySet:
        """Value tuples of ``columns`` whose cursor is past ``after``, in the plan's order,
        at most ``limit``. JSON columns come as their text with ``json_as_text``:
        decoding them into Python only to encode them again cost a third of the ORM
        path's time (the encoder embeds the text as it is)."""
        queryset = self.queryset
        if after is not None:
            queryset = queryset.filter(**{f"{self.cursor}__gt": after})
        columns = list(self.columns)
        if json_as_text and self.json_columns:
            queryset = queryset.annotate(
                **{_json_text(name): Cast(name, models.TextField()) for name in self.json_columns}
            )
            columns = [_json_text(c) if c in self.json_columns else c for c in columns]
        queryset = queryset.order_by(*(self.ordering or [self.cursor])).values_list(*columns)
        return queryset if limit is None else queryset[:limit]
