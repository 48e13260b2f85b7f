"""Declared filters: a query parameter, a Django form field that parses it, a lookup.

Parsing and its error messages come from ``django.forms`` fields, so a dataset
accepts exactly what a Django form would and says why it refuses the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

__all__ = [
    "Filter",
    "InstantField",
    "StrictBooleanField",
    "boolean",
    "choice",
    "date",
    "datetime",
    "decimal",
    "integer",
    "text",
]

_BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class StrictBooleanField(forms.Field):
    """A boolean parameter that refuses anything but true/false, 1/0, yes/no."""

    def to_python(self, value: Any) -> bool | None:
        if value in self.empty_values:
            return None
        try:
            return _BOOLEAN_WORDS[str(value).strip().lower()]
        except KeyError:
            raise ValidationError(
                "Enter true or false (or 1/0, yes/no), not %(value)r.",
                code="invalid",
                params={"value": value},
            ) from None


class InstantField(forms.DateTimeField):
    """An ISO 8601 datetime, as the instant it names, in UTC.

    Python takes offsets up to 24 hours; databases do not (PostgreSQL refuses +16:00
    mid-query, after the first byte). The instant is what a filter compares, so it is
    given to the database in UTC; one that UTC cannot hold is refused here.
    """

    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError(
                "%(value)r is outside the range of dates.", code="invalid", params={"value": value}
            ) from None


@dataclass(frozen=True)
class Filter:
    """One query parameter of a dataset: ``?<name>=<value>`` filters ``lookup`` by it."""

    lookup: str
    form_field: forms.Field
    type: str = "text"
    help: str = ""
    apply: Callable[[QuerySet, Any], QuerySet] | None = field(default=None, compare=False)

    def parse(self, raw: str) -> Any:
        """Parse a raw value; raise ``ValidationError`` naming what is wrong."""
        return self.form_field.clean(raw)

    def filter(self, queryset: QuerySet, value: Any) -> QuerySet:
        """Restrict ``queryset`` to the rows this filter's value selects."""
        if self.apply is not None:
            return self.apply(queryset, value)
        return queryset.filter(**{self.lookup: value})


def _lookup(field_name: str, lookup: str) -> str:
    return field_name if lookup == "exact" else f"{field_name}__{lookup}"


def boolean(field_name: str, help: str = "") -> Filter:
    """``?param=true|false`` compared with a boolean field."""
    return Filter(field_name, StrictBooleanField(), "boolean", help)


def datetime(field_name: str, lookup: str = "exact", help: str = "") -> Filter:
    """An ISO 8601 datetime compared with ``lookup`` (gte, lt, ...)."""
    return Filter(_lookup(field_name, lookup), InstantField(), "datetime", help)


def date(field_name: str, lookup: str = "exact", help: str = "") -> Filter:
    """An ISO 8601 date compared with ``lookup``."""
    return Filter(_lookup(field_name, lookup), forms.DateField(), "date", help)


def decimal(field_name: str, lookup: str = "exact", help: str = "") -> Filter:
    """A decimal number compared with ``lookup``."""
    return Filter(_lookup(field_name, lookup), forms.DecimalField(), "decimal", help)


def integer(field_name: str, lookup: str = "exact", help: str = "") -> Filter:
    """An integer compared with ``lookup``; bounded to 64 bits so no database overflows."""
    bound = 2**63 - 1
    return Filter(
        _lookup(field_name, lookup),
        forms.IntegerField(min_value=-bound, max_value=bound),
        "integer",
        help,
    )


def text(field_name: str, lookup: str = "exact", help: str = "", max_length: int = 200) -> Filter:
    """A string compared with ``lookup`` (exact, icontains, startswith, ...)."""
    return Filter(_lookup(field_name, lookup), forms.CharField(max_length=max_length), "text", help)


def choice(field_name: str, choices: list[str], lookup: str = "exact", help: str = "") -> Filter:
    """One of ``choices``."""
    return Filter(
        _lookup(field_name, lookup),
        forms.ChoiceField(choices=[(c, c) for c in choices]),
        "choice",
        help,
    )
