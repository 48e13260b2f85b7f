"""The formats an export may be written in, by name: NDJSON, CSV and Excel, and any a
project registers."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.exceptions import ImproperlyConfigured

from ..errors import Refusal
from .base import Format
from .csv import CSV
from .ndjson import NDJSON
from .xlsx import XLSX

__all__ = ["UnknownFormat", "format_title", "formats", "get_format", "register_format"]


class UnknownFormat(Refusal):
    """No format is registered under ``name`` (a 400 naming the known ones)."""

    def __init__(self, name: str, param: str = "format") -> None:
        known = ", ".join(f.name for f in formats())
        super().__init__(f"{param}: {name!r} is no format; give one of {known}.", param=param)
        self.name = name


_formats: dict[str, Format] = {}


def register_format(format: Format) -> Format:
    """Add ``format`` under its name (a project's own, or one replacing a built-in)."""
    if not format.name.isalnum() or not format.name.islower() or len(format.name) > 8:
        raise ImproperlyConfigured(
            f"Format name {format.name!r} must be at most 8 lowercase letters or digits."
        )
    _formats[format.name] = format
    return format


def get_format(name: str | Format) -> Format:
    """The format ``name`` (a format: itself); :class:`UnknownFormat` when there is none."""
    if isinstance(name, Format):
        return name
    try:
        return _formats[name]
    except KeyError:
        raise UnknownFormat(name) from None


def format_title(name: str) -> str:
    """What people call the format ``name`` ("Excel"), or its name if no longer registered."""
    try:
        return get_format(name).title
    except UnknownFormat:
        return name.upper()


def formats() -> Iterator[Format]:
    """Every format, in the order registered (the built-ins first)."""
    return iter(tuple(_formats.values()))


for _builtin in (NDJSON(), CSV(), XLSX()):
    register_format(_builtin)
