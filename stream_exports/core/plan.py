"""What to read: a dataset's rows as a plan the readers and the COPY path share."""

from __future__ import annotations

import operator
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, reduce
from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.models import F, OrderBy, Q, QuerySet
from django.db.models.functions import Cast

from ..conf import conf
from .datasets import Dataset

__all__ = ["RowPlan", "label_cases", "read_from"]


def read_from(queryset: QuerySet) -> QuerySet:
    """``queryset`` on the alias exports read from (``READ_DATABASE``); as it is when
    that is empty (the project's routers decide)."""
    alias = conf.READ_DATABASE
    return queryset.using(alias) if alias else queryset


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
    values of ``order_keys`` instead). ``until``: the last cursor read (a partition's
    upper bound), None for no bound.
    """

    queryset: QuerySet
    columns: Sequence[str]
    cursor: str
    after: Any = None
    limit: int | None = None
    ordering: tuple[Any, ...] = ()
    until: Any = None

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
        """``fields`` of ``queryset``'s rows, read from ``READ_DATABASE`` (:func:`read_from`),
        with the dataset's cursor read too (the trailer's ``last`` and the keyset pages
        need it)."""
        cursor = dataset.cursor_column
        columns = tuple(fields) if cursor in fields else (*fields, cursor)
        return cls(read_from(queryset), columns, cursor, after, limit, ordering)

    @classmethod
    def in_queryset_order(
        cls, dataset: Dataset, queryset: QuerySet, fields: Sequence[str]
    ) -> RowPlan:
        """Read ``queryset`` in its own order (an admin changelist's), else the cursor's.
        An order that starts with the cursor ascending is the cursor's (the cursor is
        unique): such a plan reads as the export URL's does (COPY, partitions)."""
        ordering = tuple(queryset.query.order_by)
        plan = cls.for_dataset(dataset, queryset, fields, ordering=ordering)
        return replace(plan, ordering=()) if plan.starts_in_cursor_order() else plan

    def starts_in_cursor_order(self) -> bool:
        """Whether the plan's ordering is none or starts with its cursor ascending."""
        if not self.ordering:
            return True
        first = self.order_keys[0]
        return self._is_cursor(first) and not first.descending

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

    def plain_columns(
        self, names: Sequence[str], kinds: Collection[str]
    ) -> list[tuple[str, models.Field]] | None:
        """``names`` with their model fields when each is a plain column whose internal
        type is one of ``kinds`` (a datetime only with ``USE_TZ``: its text is UTC), else
        None: what a database may write itself."""
        fields = []
        for name in names:
            field = self.column_field(name)
            if field is None or field.column is None:
                return None
            kind = field.get_internal_type()
            if kind not in kinds or (kind == "DateTimeField" and not settings.USE_TZ):
                return None
            fields.append((name, field))
        return fields

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
        if any(self._is_cursor(key) for key in keys):
            return keys
        return (*keys, OrderBy(F(self.cursor)))

    def _is_cursor(self, key: OrderBy) -> bool:
        """Whether ``key`` orders by the cursor (by its name, or ``pk`` when it is the key)."""
        names = {self.cursor, "pk" if self.cursor == self.queryset.model._meta.pk.name else ""}
        # (F.name is public; django-stubs 6.1 does not declare it.)
        return isinstance(key.expression, F) and getattr(key.expression, "name", None) in names

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
        decoding them into Python only to encode them again costs much of the ORM
        path's time (the encoder embeds the text as it is)."""
        queryset = self.queryset
        if after is not None:
            queryset = queryset.filter(**{f"{self.cursor}__gt": after})
        if self.until is not None:
            queryset = queryset.filter(**{f"{self.cursor}__lte": self.until})
        columns = list(self.columns)
        if json_as_text and self.json_columns:
            queryset = queryset.annotate(
                **{_json_text(name): Cast(name, models.TextField()) for name in self.json_columns}
            )
            columns = [_json_text(c) if c in self.json_columns else c for c in columns]
        queryset = queryset.order_by(*(self.ordering or [self.cursor])).values_list(*columns)
        return queryset if limit is None else queryset[:limit]


def label_cases(
    plan: RowPlan,
    field: models.Field,
    column: str,
    texts: Mapping[Any, str | None],
    compare: str = "=",
) -> tuple[str, list[Any]]:
    """``WHEN <column> <compare> <value> THEN <text> ...`` for a CASE that writes a
    column's stored values as the given texts (the database paths' labels), and its
    parameters."""
    connection = connections[plan.queryset.db]
    cases, params = [], []
    for value, text in texts.items():
        if value is None:
            cases.append(f"WHEN {column} IS NULL THEN %s")
            params.append(text)
        else:
            cases.append(f"WHEN {column} {compare} %s THEN %s")
            params += [field.get_db_prep_value(value, connection), text]
    return " ".join(cases), params
