"""The export dialog's choice, read from a query string a user can bookmark or share.

The dialog is a GET form. Its query string holds the changelist's (``_changelist_filters``,
as the admin's own links keep it), the checked rows (``selected``, repeated; none: every
matching row), the ``format``, the ``fields`` (repeated) and the ``mode`` (``now`` or
``background``), and ``notify`` for a background export. A query without a format,
field or mode is a first visit: the dialog offers its defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db import models
from django.http import QueryDict
from django.utils.http import urlencode

from ..core.columns import Column
from ..core.formats.base import Format
from ..core.query import parse_value

__all__ = [
    "PARAMS",
    "Choice",
    "Dialog",
    "ExportForm",
    "Mode",
    "Selection",
    "bookmark",
    "in_dialog_order",
    "param_errors",
    "parse_selection",
]

#: The dialog's parameters: which rows (the changelist's query string, the checked keys),
#: and the choice. ``selected`` and ``fields`` repeat; the others are given once.
PARAMS = ("_changelist_filters", "selected", "format", "fields", "mode", "notify")
REPEATED = ("selected", "fields")

#: What the dialog's formats are offered in: the spreadsheet first, then the others.
PREFERRED_FORMATS = ("xlsx", "csv", "ndjson")


class Mode(models.TextChoices):
    """Now (the download starts at once) or in the background (a job)."""

    NOW = "now", "Now"
    BACKGROUND = "background", "In the background"


def in_dialog_order(formats: Sequence[Format]) -> list[Format]:
    """``formats`` as the dialog lists them: Excel, CSV, NDJSON, then the others."""

    def rank(format: Format) -> int:
        name = format.name
        return (
            PREFERRED_FORMATS.index(name) if name in PREFERRED_FORMATS else len(PREFERRED_FORMATS)
        )

    return sorted(formats, key=rank)


@dataclass(frozen=True)
class Selection:
    """Which of a changelist's rows: its query string, and the checked keys (None: all)."""

    query: str
    selected: tuple[Any, ...] | None


def param_errors(params: QueryDict) -> list[str]:
    """What is wrong with ``params`` as a whole: a parameter the dialog does not take, one
    given twice that is given once, a NUL character (no database stores one)."""
    errors = []
    for name, values in params.lists():
        if name not in PARAMS and name != "csrfmiddlewaretoken":
            errors.append(f"{name}: unknown parameter; the dialog takes: {', '.join(PARAMS)}.")
        elif len(values) > 1 and name not in REPEATED:
            errors.append(f"{name}: given twice; give it once.")
        inner = QueryDict(values[0]).lists() if name == "_changelist_filters" else []
        if any("\x00" in value for value in [*values, *(v for _, vs in inner for v in vs)]):
            errors.append(f"{name}: contains a NUL character, which no database stores.")
    return errors


def parse_selection(params: QueryDict, model: type[models.Model]) -> Selection:
    """The rows part of the dialog's query; ``ParamError`` for a key that cannot be one."""
    query = params.get("_changelist_filters", "")
    raw = params.getlist("selected")
    keys = tuple(parse_value(model._meta.pk, value, "selected") for value in raw)
    return Selection(query, keys if raw else None)


class ExportForm(forms.Form):
    """The choice: a format, fields (of those offered, in their order), now or later."""

    def __init__(
        self, params: QueryDict | None, formats: Sequence[Format], columns: Sequence[Column]
    ) -> None:
        super().__init__(params)
        self.params = params if params is not None else QueryDict()
        self.formats = {format.name: format for format in formats}
        self.columns = tuple(columns)
        known = ", ".join(self.formats)
        self.fields["format"] = forms.ChoiceField(
            choices=[(f.name, f.title) for f in formats],
            error_messages={
                "required": "format: choose a format.",
                "invalid_choice": f"format: %(value)s is no format here; choose one of {known}.",
            },
        )
        self.fields["fields"] = forms.MultipleChoiceField(
            choices=[(c.name, c.label) for c in self.columns],
            error_messages={
                "required": "fields: choose at least one field.",
                "invalid_choice": "fields: %(value)s is no field of this export.",
            },
        )
        self.fields["mode"] = forms.ChoiceField(
            choices=Mode.choices,
            required=False,
            error_messages={"invalid_choice": "mode: %(value)s is neither now nor background."},
        )
        self.fields["notify"] = forms.BooleanField(required=False)

    @staticmethod
    def is_choice(params: QueryDict) -> bool:
        """Whether ``params`` say what to export (else: a first visit, the defaults)."""
        return any(name in params for name in ("format", "fields", "mode"))

    def clean_fields(self) -> tuple[str, ...]:
        """The chosen fields, in the order offered."""
        chosen = set(self.cleaned_data["fields"])
        return tuple(column.name for column in self.columns if column.name in chosen)

    def clean_format(self) -> Format:
        return self.formats[self.cleaned_data["format"]]

    def clean_mode(self) -> str:
        return self.cleaned_data["mode"] or Mode.NOW


@dataclass(frozen=True)
class Choice:
    """What the dialog's query asked for, checked."""

    format: Format
    fields: tuple[str, ...]
    mode: str
    notify: bool


@dataclass
class Dialog:
    """One visit of the dialog: the rows (``selection``, ``count``: None when the rows part
    is bad), the form, and what is wrong with the query (``errors``)."""

    form: ExportForm
    now_max: int
    selection: Selection = Selection("", None)
    count: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def now_offered(self) -> bool:
        """Whether "now" is offered: at most ``now_max`` rows."""
        return self.count is not None and self.count <= self.now_max

    def check(self) -> Choice | None:
        """The choice, or None: a first visit, or a choice with errors (in ``errors``)."""
        form = self.form
        if not form.is_bound or self.errors or not form.is_valid():
            self.errors += [str(error) for errors in form.errors.values() for error in errors]
            return None
        data = form.cleaned_data
        if data["mode"] == Mode.NOW and not self.now_offered:
            self.errors.append(self.now_refused)
            return None
        return Choice(data["format"], data["fields"], data["mode"], data["notify"])

    @property
    def now_refused(self) -> str:
        return (
            f"Now is offered up to {self.now_max:,} rows and these are {self.count or 0:,}: "
            "export them in the background."
        )

    def context(self) -> dict[str, Any]:
        """What the template shows: each format, field and mode, checked as asked (or by
        default), the row count, and the link to this choice."""
        form, params = self.form, self.form.params
        bound = form.is_bound
        formats = list(form.formats.values())
        format = params.get("format", "") if bound else ""
        if format not in form.formats:
            format = formats[0].name if formats else ""  # the first: the spreadsheet
        fields = params.getlist("fields") if bound else [c.name for c in form.columns]
        mode = params.get("mode") if bound else None
        if mode not in Mode.values or (mode == Mode.NOW and not self.now_offered):
            mode = Mode.NOW if self.now_offered else Mode.BACKGROUND
        notify = bool(form["notify"].value()) if bound else True
        return {
            "formats": [(f, f.name == format) for f in formats],
            "columns": [(c, c.name in fields) for c in form.columns],
            "mode": mode,
            "notify": notify,
            "count": self.count,
            "count_text": f"{self.count or 0:,}",
            "now_offered": self.now_offered,
            "now_max_text": f"{self.now_max:,}",
            "selection": self.selection,
            "link": "?" + bookmark(self.selection, format, fields, mode, notify),
            "errors": self.errors,
        }


def bookmark(
    selection: Selection,
    format: str = "",
    fields: Sequence[str] = (),
    mode: str = "",
    notify: bool = False,
) -> str:
    """The dialog's query string for a changelist's rows and, if given, a choice."""
    query: list[tuple[str, Any]] = []
    if selection.query:
        query.append(("_changelist_filters", selection.query))
    query += [("selected", key) for key in selection.selected or ()]
    if format:
        query += [("format", format), *(("fields", name) for name in fields), ("mode", mode)]
        if mode == Mode.BACKGROUND and notify:
            query.append(("notify", "on"))
    return urlencode(query)
