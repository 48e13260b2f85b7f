"""Query parameters of an export, parsed and checked before the first byte."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.http import QueryDict

from .datasets import Dataset
from .engine import RowPlan
from .filters import StrictBooleanField

#: Parameters every export understands, beside the dataset's own filters.
RESERVED = ("fields", "after", "limit", "trailer", "download", "sig")

_LIMIT = forms.IntegerField(min_value=1, max_value=2**63 - 1)
_FLAG = StrictBooleanField()


class ParamError(ValueError):
    """A query parameter that cannot be used; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class ExportQuery:
    """A dataset export as the caller asked for it."""

    dataset: Dataset
    fields: tuple[str, ...]
    filters: Mapping[str, Any] = field(default_factory=dict)
    after: Any = None
    limit: int | None = None
    trailer: bool = True
    download: bool = False

    def row_plan(self, user: Any) -> RowPlan:
        """The rows ``user`` gets for this query, as a plan for the engine."""
        dataset = self.dataset
        queryset = dataset.get_queryset(user)
        for name, value in self.filters.items():
            queryset = dataset.filters[name].filter(queryset, value)
        cursor = dataset.cursor_column
        columns = self.fields if cursor in self.fields else (*self.fields, cursor)
        return RowPlan(queryset, columns, cursor, self.after, self.limit)


def _single(params: QueryDict, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise ParamError(name, "given more than once; give it once.")
    return values[0] if values else None


def _clean(name: str, form_field: forms.Field, raw: str) -> Any:
    try:
        return form_field.clean(raw)
    except ValidationError as exc:
        raise ParamError(name, " ".join(exc.messages)) from None


def parse_fields(dataset: Dataset, raw: str | None) -> tuple[str, ...]:
    """``fields=a,b``: a subset of the dataset's fields, in the order given."""
    if raw is None:
        return tuple(dataset.fields)
    names = tuple(name.strip() for name in raw.split(","))
    if not all(names):
        raise ParamError("fields", "give field names separated by commas, e.g. fields=id,amount.")
    unknown = [name for name in names if name not in dataset.fields]
    if unknown:
        raise ParamError(
            "fields", f"unknown field {unknown[0]!r}; known: {', '.join(dataset.fields)}."
        )
    if len(set(names)) != len(names):
        raise ParamError("fields", "a field is named twice.")
    return names


def parse_cursor(dataset: Dataset, raw: str) -> Any:
    """``after=<cursor>``: a value of the cursor field, checked against its type and range."""
    model_field = dataset.cursor_field
    try:
        value = model_field.to_python(raw)
    except ValidationError as exc:
        raise ParamError("after", " ".join(exc.messages)) from None
    if isinstance(value, int):
        internal = model_field.get_internal_type()
        low, high = connections[router.db_for_read(dataset.model)].ops.integer_field_range(internal)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ParamError("after", f"{value} is outside the range of {internal}.")
    return value


def parse_export_query(dataset: Dataset, params: QueryDict) -> ExportQuery:
    """Parse every parameter or raise ``ParamError`` naming the first bad one."""
    for name, values in params.lists():
        if any("\x00" in value for value in values):
            raise ParamError(name, "contains a NUL character, which no database stores.")
        if name not in RESERVED and name not in dataset.filters:
            allowed = ", ".join([*dataset.filters, *RESERVED[:-1]])
            raise ParamError(name, f"unknown parameter; this dataset takes: {allowed}.")
    filters = {}
    for name, declared in dataset.filters.items():
        raw = _single(params, name)
        if raw is not None:
            try:
                filters[name] = declared.parse(raw)
            except ValidationError as exc:
                raise ParamError(name, " ".join(exc.messages)) from None
    after = _single(params, "after")
    limit = _single(params, "limit")
    trailer = _single(params, "trailer")
    download = _single(params, "download")
    _single(params, "sig")
    return ExportQuery(
        dataset=dataset,
        fields=parse_fields(dataset, _single(params, "fields")),
        filters=filters,
        after=None if after is None else parse_cursor(dataset, after),
        limit=None if limit is None else _clean("limit", _LIMIT, limit),
        trailer=True if trailer is None else bool(_clean("trailer", _FLAG, trailer)),
        download=False if download is None else bool(_clean("download", _FLAG, download)),
    )
