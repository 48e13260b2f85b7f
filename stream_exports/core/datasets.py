"""Datasets: what a host project declares as exportable, and the registry of them.

A host project declares datasets in an ``exports.py`` module of any installed
app (discovered at start-up, like ``admin.py``)::

    from stream_exports.core import filters
    from stream_exports.core.datasets import Dataset, register

    register(Dataset(
        name="orders",
        queryset=Order.objects.all(),
        fields=["id", "customer", "amount", "created_at"],
        cursor="id",
        filters={"paid": filters.boolean("paid")},
    ))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models

from ..conf import conf
from .errors import Refusal
from .filters import Filter

__all__ = [
    "Dataset",
    "ExportNotAllowed",
    "NoDatasetYouMayExport",
    "Registry",
    "UnknownDataset",
    "register",
    "registry",
]

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

QuerysetSource = models.QuerySet | Callable[[Any], models.QuerySet]


@dataclass(eq=False)
class Dataset:
    """A queryset that may be exported, with its fields, cursor, filters and access rule.

    ``queryset`` is a QuerySet or a callable ``(user) -> QuerySet`` for per-user
    scoping. ``cursor`` names a unique, non-null field: rows leave in its order
    and ``after=`` resumes after one of its values. ``permission`` is a callable
    ``(user) -> bool``; by default active staff with the model's permission that the
    ``EXPORT_PERMISSION`` setting names (``view`` unless a project says ``export``).
    ``model_class`` is needed only when ``queryset`` is a callable. ``labels`` names
    fields for people (spreadsheet headers) where their verbose names will not do.
    """

    name: str
    queryset: QuerysetSource
    fields: Sequence[str]
    cursor: str = "pk"
    filters: Mapping[str, Filter] = field(default_factory=dict)
    permission: Callable[[Any], bool] | None = None
    label: str = ""
    model_class: type[models.Model] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ImproperlyConfigured(
                f"Dataset name {self.name!r} must be lowercase letters, digits, '-' or '_'."
            )
        if not self.fields:
            raise ImproperlyConfigured(f"Dataset {self.name!r} declares no fields.")
        self.fields = tuple(self.fields)
        self.filters = dict(self.filters)
        self.labels = dict(self.labels)

    def get_queryset(self, user: Any) -> models.QuerySet:
        """The rows ``user`` may export, before filters."""
        source = self.queryset
        queryset = source(user) if callable(source) else source
        return queryset.all()

    def restrict(self, queryset: models.QuerySet, user: Any) -> models.QuerySet:
        """``queryset``'s rows that are also rows ``user`` may export (an admin changelist's
        rows, say), in ``queryset``'s order."""
        allowed = self.get_queryset(user)
        query = allowed.query
        if not (query.where or query.is_sliced or query.combinator):
            return queryset  # every row of the table
        return queryset.filter(pk__in=allowed.values("pk"))

    @cached_property
    def model(self) -> type[models.Model]:
        if isinstance(self.queryset, models.QuerySet):
            return self.queryset.model
        if self.model_class is None:
            raise ImproperlyConfigured(
                f"Dataset {self.name!r} has a callable queryset: set model_class too."
            )
        return self.model_class

    @cached_property
    def cursor_field(self) -> models.Field:
        """The model field behind ``cursor`` (``pk`` resolves to the primary key)."""
        opts = self.model._meta
        found = opts.pk if self.cursor == "pk" else opts.get_field(self.cursor)
        if not isinstance(found, models.Field):  # a reverse relation
            raise FieldDoesNotExist(f"{found!r} is a relation, not a field.")
        return found

    @property
    def cursor_column(self) -> str:
        """The name rows are ordered and compared by in queries and in ``fields``."""
        return self.cursor_field.name

    def has_permission(self, user: Any) -> bool:
        """Whether ``user`` may export this dataset."""
        if user is None or not getattr(user, "is_active", False):
            return False
        if self.permission is not None:
            return bool(self.permission(user))
        return bool(user.is_staff and user.has_perm(self.export_permission))

    @property
    def export_permission(self) -> str:
        """``<app>.<EXPORT_PERMISSION>_<model>``: what the default rule asks of a user."""
        opts = self.model._meta
        return f"{opts.app_label}.{conf.EXPORT_PERMISSION}_{opts.model_name}"


class UnknownDataset(Refusal, LookupError):
    """No dataset is registered under ``name``."""

    status = 404

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown dataset {name!r}")
        self.name = name


class ExportNotAllowed(Refusal):
    """``user`` may not export the dataset ``name``."""

    status = 403

    def __init__(self, name: str, user: Any) -> None:
        super().__init__(f"you may not export dataset {name!r}.", user=user)
        self.name = name


class NoDatasetYouMayExport(UnknownDataset):
    """``name`` is not a dataset the caller may export: unknown or not allowed, answered
    alike (a 404), so that no caller learns which datasets exist beyond its own;
    ``recorded`` says which it was."""

    def __init__(self, name: str, recorded: str) -> None:
        Refusal.__init__(self, f"no dataset {name!r} that you may export")
        self.name = name
        self.recorded = recorded


class Registry:
    """The datasets a project declared, by name."""

    def __init__(self) -> None:
        self._datasets: dict[str, Dataset] = {}

    def register(self, dataset: Dataset) -> Dataset:
        if dataset.name in self._datasets:
            raise ImproperlyConfigured(f"Dataset {dataset.name!r} is registered twice.")
        self._datasets[dataset.name] = dataset
        return dataset

    def unregister(self, name: str) -> None:
        self._datasets.pop(name, None)

    def get(self, name: str) -> Dataset | None:
        return self._datasets.get(name)

    def allowed(self, name: str, user: Any) -> Dataset:
        """The dataset ``name`` if ``user`` may export it; ``UnknownDataset`` or
        ``ExportNotAllowed`` otherwise."""
        dataset = self._datasets.get(name)
        if dataset is None:
            raise UnknownDataset(name)
        if not dataset.has_permission(user):
            raise ExportNotAllowed(name, user)
        return dataset

    def exportable(self, name: str, user: Any) -> Dataset:
        """The dataset ``name`` if ``user`` may export it; :class:`NoDatasetYouMayExport`
        alike when there is none and when ``user`` may not."""
        try:
            return self.allowed(name, user)
        except (UnknownDataset, ExportNotAllowed) as exc:
            raise NoDatasetYouMayExport(name, exc.message) from None

    def __iter__(self) -> Iterator[Dataset]:
        return iter(sorted(self._datasets.values(), key=lambda d: d.name))


registry = Registry()


def register(dataset: Dataset) -> Dataset:
    """Add ``dataset`` to the registry; returns it."""
    return registry.register(dataset)
