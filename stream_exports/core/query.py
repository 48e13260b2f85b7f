"""Query parameters of an export, parsed and checked before the first byte.

Which parameters exist and what each may do lives here alone: the dataset's
filters, and the options in :data:`OPTIONS`. Whether a signed URL fixes a
parameter, whether a job keeps it and whether only some formats take it are read
from that table (a format names the ones it takes: ``Format.options``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import connections, models, router
from django.db.models import QuerySet
from django.http import QueryDict

from ..conf import conf
from .datasets import Dataset
from .errors import Refusal
from .filters import StrictBooleanField
from .formats.base import Format, WriteOptions
from .formats.registry import get_format
from .plan import RowPlan, read_from

__all__ = [
    "OPTIONS",
    "SIGNATURE",
    "Bounds",
    "ExportQuery",
    "Option",
    "OutsideSignature",
    "ParamError",
    "flag",
    "job_params",
    "parse_export_query",
    "parse_value",
    "partitions_param",
    "unsigned_params",
    "within",
]


@dataclass(frozen=True)
class Option:
    """A parameter an export takes beside its dataset's filters.

    ``chooses_rows``: it says *what* is exported, so a signed URL fixes it.
    ``kept_by_jobs``: it shapes the file, not one response, so a job keeps it.
    ``per_format``: only the formats that name it in ``Format.options`` take it.
    """

    name: str
    chooses_rows: bool
    kept_by_jobs: bool
    per_format: bool = False


OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        Option("fields", chooses_rows=True, kept_by_jobs=True),
        Option("after", chooses_rows=False, kept_by_jobs=True),
        Option("limit", chooses_rows=True, kept_by_jobs=True),
        Option("trailer", chooses_rows=False, kept_by_jobs=False, per_format=True),
        Option("bom", chooses_rows=False, kept_by_jobs=True, per_format=True),
        Option("labels", chooses_rows=False, kept_by_jobs=True, per_format=True),
        Option("download", chooses_rows=False, kept_by_jobs=False),
    )
}


def options_of(format: Format) -> list[str]:
    """The options an export in ``format`` takes, in :data:`OPTIONS`' order."""
    return [n for n, o in OPTIONS.items() if not o.per_format or n in format.options]


#: The signature of a signed URL (``stream_exports.links.signing``).
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


class ParamError(Refusal, ValueError):
    """A query parameter that cannot be used; ``param`` names it (a 400)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}", param=param)
        self.reason = message


class OutsideSignature(ParamError):
    """A parameter that would read rows a signed URL was not made for (a 403)."""

    status = 403


@dataclass(frozen=True)
class Bounds:
    """The rows a signed URL was made for, over every request that carries it: those whose
    cursor is past ``floor`` (None: from the first row), at most ``limit`` of them (None:
    all), in cursor order."""

    floor: Any = None
    limit: int | None = None

    def applied(self, queryset: QuerySet, cursor: str, after: Any) -> tuple[QuerySet, int | None]:
        """``queryset`` past the floor, and how many of its rows past ``after`` are left of
        ``limit``: ``limit`` less those between the floor and ``after`` (at most ``limit``
        of them are counted, on the cursor's index)."""
        if self.floor is not None:
            queryset = queryset.filter(**{f"{cursor}__gt": self.floor})
        if self.limit is None or after is None or after == self.floor:
            return queryset, self.limit
        read = queryset.filter(**{f"{cursor}__lte": after}).order_by()[: self.limit].count()
        return queryset, self.limit - read


@dataclass(frozen=True)
class ExportQuery:
    """A dataset export as the caller asked for it: which rows, which fields, in which
    format, written how (``write``), and whether as a download (a file name). ``bounds``:
    the rows a signed URL allows (:func:`within`), None without one."""

    dataset: Dataset
    fields: tuple[str, ...]
    format: Format = field(default_factory=lambda: get_format("ndjson"))
    filters: Mapping[str, Any] = field(default_factory=dict)
    after: Any = None
    limit: int | None = None
    write: WriteOptions = field(default_factory=WriteOptions)
    download: bool = False
    bounds: Bounds | None = None

    def row_plan(self, user: Any) -> RowPlan:
        """The rows ``user`` gets for this query, as a plan for the readers (within its
        bounds: a signed URL's limit counted from its floor, which costs a ``COUNT`` of
        at most that many rows when ``after`` moved past the floor), read from
        ``READ_DATABASE``, that count too."""
        dataset = self.dataset
        queryset = read_from(dataset.get_queryset(user))
        for name, value in self.filters.items():
            queryset = dataset.filters[name].filter(queryset, value)
        limit = self.limit
        if self.bounds is not None:
            queryset, limit = self.bounds.applied(queryset, dataset.cursor_column, self.after)
        return RowPlan.for_dataset(dataset, queryset, self.fields, self.after, limit)


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


def parse_value(model_field: models.Field, raw: str, param: str) -> Any:
    """A value of ``model_field`` (the cursor, a key), checked against its type and, for
    an integer, the database's range; ``ParamError`` naming ``param`` otherwise."""
    value = _parsed(param, model_field.to_python, raw)
    if isinstance(value, int):
        internal = model_field.get_internal_type()
        db = connections[router.db_for_read(model_field.model)]
        low, high = db.ops.integer_field_range(internal)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ParamError(param, f"{value} is outside the range of {internal}.")
    return value


def parse_cursor(dataset: Dataset, raw: str) -> Any:
    """``after=<cursor>``: a value of the cursor field, checked against its type and range."""
    return parse_value(dataset.cursor_field, raw, "after")


def parse_export_query(
    dataset: Dataset, params: QueryDict, format: Format | str = "ndjson"
) -> ExportQuery:
    """Parse every parameter of an export in ``format``, or raise ``ParamError`` naming
    the first bad one."""
    format = get_format(format)
    options = options_of(format)
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
        format=format,
        filters=filters,
        after=None if after is None else parse_cursor(dataset, after),
        limit=None if limit is None else _parsed("limit", _LIMIT.clean, limit),
        write=WriteOptions(
            trailer=_flag(given, "trailer", default=True),
            bom=_flag(given, "bom", default=False),
            labels=_flag(given, "labels", default=False),
        ),
        download=_flag(given, "download", default=False),
    )


def within(query: ExportQuery, floor: str | None) -> ExportQuery:
    """``query`` as a signed URL made with ``after=floor`` (None: without ``after``) allows
    it: ``after`` may move forward from the floor, never back (:class:`OutsideSignature`);
    without one it is the floor; the URL's ``limit`` (fixed by its signature, so the
    query's) counts from the floor over every request."""
    start = None if floor is None else parse_cursor(query.dataset, floor)
    after = start if query.after is None else query.after
    if start is not None and after < start:
        raise OutsideSignature(
            "after",
            f"this signed URL reads the rows after {floor}; after= may move forward from "
            "there, never back.",
        )
    return replace(query, after=after, bounds=Bounds(start, query.limit))


def _flag(given: Mapping[str, str | None], name: str, default: bool) -> bool:
    raw = given.get(name)
    return default if raw is None else bool(_parsed(name, _FLAG.clean, raw))


def partitions_param(params: QueryDict) -> int | None:
    """A job's ``partitions``: a whole number from 1 (1: not split), or ``auto`` or absent
    (None: ``PARTITION_ROWS`` decides); ``ParamError`` naming it otherwise."""
    raw = _single(params, "partitions")
    if raw is None or raw.strip().lower() in ("", "auto"):
        return None
    if not raw.strip().isdigit() or not 1 <= int(raw) <= conf.MAX_PARTITIONS:
        raise ParamError(
            "partitions",
            f"give auto or a whole number from 1 (not split) to {conf.MAX_PARTITIONS} "
            f"(MAX_PARTITIONS), not {raw!r}.",
        )
    return int(raw)


def flag(params: QueryDict, name: str, default: bool) -> bool:
    """The true/false parameter ``name`` (``default`` when absent); ``ParamError`` naming it
    when given twice or not true/false, 1/0, yes/no."""
    return _flag({name: _single(params, name)}, name, default)
