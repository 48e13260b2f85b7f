"""What to read: a dataset's rows as a plan the readers and the COPY path share."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property, reduce
from typing import Any

from django.db import connections, models
from django.db.models import F, OrderBy, Q, QuerySet
from django.db.models.functions import Cast

from .datasets import Dataset

__all__ = ["RowPlan"]


def _json_text(name: str) -> str:
    return f"stream_exports_{name}_text"


def _key(index: int) -> str:
    return f"stream_exports_key_{index}"


def _order_by(item: Any) -> OrderBy:
    """An ``order_by()`` item as an expression (``"-name"``: ``F("name")`` descending)."""
    if isinstance(item, OrderBy):
        return item
    if isinstance(item, str):
        return OrderBy(F(item.removeprefix("-")), descending=item.startswith("-"))
    return OrderBy(item)


@dataclass(frozen=True)
class RowPlan:
    """A filtered queryset, its columns and the cursor to order by.

    ``ordering`` (e.g. an admin changelist's) replaces cursor order; such a
    plan cannot resume with ``after`` (its keyset pages resume from a row's
    values of ``order_keys`` instead).
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

    @cached_property
    def order_keys(self) -> tuple[OrderBy, ...]:
        """The plan's ordering as expressions, made total: the unique cursor breaks the ties
        (unless the ordering names it already)."""
        keys = tuple(_order_by(item) for item in self.ordering)
        names = {self.cursor, "pk" if self.cursor == self.queryset.model._meta.pk.name else ""}
        # (F.name is public; django-stubs 6.1 does not declare it.)
        if any(
            getattr(key.expression, "name", None) in names
            for key in keys
            if isinstance(key.expression, F)
        ):
            return keys
        return (*keys, OrderBy(F(self.cursor)))

    def page(self, past: Sequence[Any] | None, limit: int) -> QuerySet:
        """A keyset page: at most ``limit`` rows after the row whose ``page_end`` is ``past``
        (None: the first page), in the plan's order. An ordered plan's rows carry their
        ``order_keys`` values after the columns."""
        if not self.ordering:
            return self.select(self.after if past is None else past[0], limit)
        keys = {_key(index): key.expression for index, key in enumerate(self.order_keys)}
        queryset = self.queryset.annotate(**keys)
        if past is not None:
            queryset = queryset.filter(self._past(past))
        columns = (*self.columns, *keys)
        return replace(self, queryset=queryset, columns=columns, ordering=self.order_keys).select(
            self.after, limit
        )

    def page_end(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """What the page after the one ending with ``row`` (a row of ``page``) starts past."""
        if not self.ordering:
            return (row[self.cursor_index],)
        return tuple(row[len(self.columns) :])

    def _past(self, values: Sequence[Any]) -> Q:
        """Rows after the one whose ``order_keys`` are ``values``: the same on the keys before
        one and after it on that one, NULLs placed as the key says or else as the database
        sorts them (first ascending on MySQL, MariaDB and SQLite; last on PostgreSQL)."""
        nulls_largest = connections[self.queryset.db].features.nulls_order_largest
        ways, same = [], Q()
        for index, (key, value) in enumerate(zip(self.order_keys, values, strict=True)):
            name = _key(index)
            nulls_last = key.nulls_last or (not key.nulls_first and nulls_largest != key.descending)
            if value is None:
                if not nulls_last:
                    ways.append(same & Q(**{f"{name}__isnull": False}))
                same &= Q(**{f"{name}__isnull": True})
                continue
            later = Q(**{f"{name}__{'lt' if key.descending else 'gt'}": value})
            if nulls_last:
                later |= Q(**{f"{name}__isnull": True})
            ways.append(same & later)
            same &= Q(**{name: value})
        return reduce(operator.or_, ways) if ways else Q(pk__in=[])

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
