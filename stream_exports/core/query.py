"""Query parameters of an export, parsed and checked before the first byte.

Which parameters exist and what each may do lives here alone: the dataset's
filters, and the options in :data:`OPTIONS`. Whether a signed URL fixes a
parameter and whether a job keeps it are read from that table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.http import QueryDict

from .datasets import Dataset
from .filters import StrictBooleanField
from .plan import RowPlan

__all__ = [
    "CSV",
    "FORMATS",
    "NDJSON",
    "OPTIONS",
    "SIGNATURE",
    "ExportQuery",
    "Option",
    "ParamError",
    "job_params",
    "parse_export_query",
    "unsigned_params",
]


#: The formats an export is written in (``core.ndjson``, ``core.csv_format``).
NDJSON, CSV = "ndjson", "csv"
FORMATS = (NDJSON, CSV)


@dataclass(frozen=True)
class Option:
    """A parameter every export takes beside its dataset's filters.

    ``chooses_rows``: it says *what* is exported, so a signed URL fixes it.
    ``kept_by_jobs``: it shapes the file, not one response, so a job keeps it.
    ``formats``: the formats that take it.
    """

    name: str
    chooses_rows: bool
    kept_by_jobs: bool
    formats: tuple[str, ...] = FORMATS


OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        Option("fields", chooses_rows=True, kept_by_jobs=True),
        Option("after", chooses_rows=False, kept_by_jobs=True),
        Option("limit", chooses_rows=True, kept_by_jobs=True),
        Option("trailer", chooses_rows=False, kept_by_jobs=False, formats=(NDJSON,)),
        Option("bom", chooses_rows=False, kept_by_jobs=True, formats=(CSV,)),
        Option("download", chooses_rows=False, kept_by_jobs=False),
    )
}

#: The signature of a signed URL (``stream_exports.http.access``).
SIGNATURE = "sig"

#: How a job's event or log stream is read (never what): free under a signature.
STREAM_PARAMS = ("follow", "lastEventId")


def unsigned_params() -> frozenset[str]:
    """Parameters a signed URL leaves free: how to read, never what."""
    free = (name for name, option in OPTIONS.items() if not option.chooses_rows)
    return frozenset({SIGNATURE, *free, *STREAM_PARAMS})


def job_params(params: QueryDict) -> QueryDict:
    """``params`` without what only shapes one HTTP response (a job's file has none)."""
    kept = params.copy()
    for name in (SIGNATURE, *(n for n, option in OPTIONS.items() if not option.kept_by_jobs)):
        kept.pop(name, None)
    return kept


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
    bom: bool = False

    def row_plan(self, user: Any) -> RowPlan:
        """The rows ``user`` gets for this query, as a plan for the readers."""
        dataset = self.dataset
        queryset = dataset.get_queryset(user)
        for name, value in self.filters.items():
            queryset = dataset.filters[name].filter(queryset, value)
        return RowPlan.for_dataset(dataset, queryset, self.fields, self.after, self.limit)


def _single(params: QueryDict, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise ParamError(name, "given more than once; give it once.")
    return values[0] if values else None


def _parsed(name: str, parse: Callable[[str], Any], raw: str) -> Any:
    """``parse(raw)``, its ``ValidationError`` turned into a ``ParamError`` naming ``name``."""
    try:
        return parse(raw)
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
    value = _parsed("after", model_field.to_python, raw)
    if isinstance(value, int):
        internal = model_field.get_internal_type()
        low, high = connections[router.db_for_read(dataset.model)].ops.integer_field_range(internal)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ParamError("after", f"{value} is outside the range of {internal}.")
    return value


def parse_export_query(dataset: Dataset, params: QueryDict, format: str = NDJSON) -> ExportQuery:
    """Parse every parameter of an export in ``format``, or raise ``ParamError`` naming
    the first bad one."""
    options = [name for name, option in OPTIONS.items() if format in option.formats]
    for name, values in params.lists():
        if any("\x00" in value for value in values):
            raise ParamError(name, "contains a NUL character, which no database stores.")
        if name not in options and name != SIGNATURE and name not in dataset.filters:
            allowed = ", ".join([*dataset.filters, *options])
            raise ParamError(name, f"unknown parameter; this dataset takes: {allowed}.")
    filters = {}
    for name, declared in dataset.filters.items():
        raw = _single(params, name)
        if raw is not None:
            filters[name] = _parsed(name, declared.parse, raw)
    given = {name: _single(params, name) for name in (*options, SIGNATURE)}
    after, limit = given.get("after"), given.get("limit")
    return ExportQuery(
        dataset=dataset,
        fields=parse_fields(dataset, given.get("fields")),
        filters=filters,
        after=None if after is None else parse_cursor(dataset, after),
        limit=None if limit is None else _parsed("limit", _LIMIT.clean, limit),
        trailer=_flag(given, "trailer", default=True),
        download=_flag(given, "download", default=False),
        bom=_flag(given, "bom", default=False),
    )


def _flag(given: Mapping[str, str | None], name: str, default: bool) -> bool:
    raw = given.get(name)
    return default if raw is None else bool(_parsed(name, _FLAG.clean, raw))
