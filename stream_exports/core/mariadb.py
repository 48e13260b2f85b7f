"""MariaDB fast path: the database writes each NDJSON line or CSV row, read in keyset pages.

Used on MariaDB when every exported field is a plain column of a type whose JSON
text MariaDB can write exactly as the Python encoder does (integers, text,
booleans, decimals, dates, timestamps in UTC, JSON). Lines are byte for byte
those of the ORM path (``JSON_QUOTE`` escapes as orjson does, but for the case of
nine escapes' hex digits, put right in the rows that have them). Raw
U+0085/U+2028/U+2029 are escaped here, on each chunk. CSV rows (``csv_batches``), for
the same plans, are byte for byte those of Python's csv writer on the CSV format's texts.

Pages, not one streamed query: a page holds the connection only while it runs
(other queries of the request or job may run between pages), as the ORM path's
keyset pages do; the database writing the lines is what makes it fast
(docs/performance.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Mapping
from contextlib import closing
from dataclasses import replace
from typing import Any

import orjson
from django.db import connections, models
from django.db.models.expressions import RawSQL

from ..conf import conf
from .encoding import escape_separators
from .plan import RowPlan, label_cases
from .readers import keyset_batches

__all__ = ["csv_batches", "csv_expression", "line_batches", "line_expression"]

#: The control characters JSON_QUOTE escapes with upper-case hex digits (``\\u001F``),
#: where orjson writes lower-case ones.
UPPER_HEX_ESCAPED = "[\x0b\x0e\x0f\x1a-\x1f]"
#: Such an escape ending in ``%s`` (after an even number of backslashes: after an odd one
#: it is text), and what it becomes.
_ESCAPE = r"(?<!\\)((?:\\\\)*)\\u00([01])%s"
_LOWER = r"\1\\u00\2%s"


def _text(column: str) -> tuple[str, list[str]]:
    """A text as orjson writes it: ``JSON_QUOTE``, its upper-case escapes made lower-case
    in the rows that have any (a pattern for each hex letter, as parameters)."""
    quoted, params = f"JSON_QUOTE({column})", [UPPER_HEX_ESCAPED]
    for letter in "ABCDEF":
        quoted = f"REGEXP_REPLACE({quoted}, %s, %s)"
        params += [_ESCAPE % letter, _LOWER % letter.lower()]
    return f"IF({column} RLIKE %s, {quoted}, JSON_QUOTE({column}))", params


_INTEGER = "{c}"
_TEXT = "text"  # (made by _text)

# How MariaDB writes each type as the Python encoder would; {c} is the column.
_JSON_TEXT = {
    "AutoField": _INTEGER,
    "BigAutoField": _INTEGER,
    "SmallAutoField": _INTEGER,
    "IntegerField": _INTEGER,
    "BigIntegerField": _INTEGER,
    "SmallIntegerField": _INTEGER,
    "PositiveIntegerField": _INTEGER,
    "PositiveBigIntegerField": _INTEGER,
    "PositiveSmallIntegerField": _INTEGER,
    "CharField": _TEXT,
    "TextField": _TEXT,
    "EmailField": _TEXT,
    "SlugField": _TEXT,
    "URLField": _TEXT,
    "BooleanField": "IF({c}, 'true', 'false')",
    "DecimalField": "CONCAT('\"', {c}, '\"')",
    "DateField": "CONCAT('\"', {c}, '\"')",
    # isoformat(): microseconds only when there are some (one DATE_FORMAT is the cheapest).
    "DateTimeField": (
        "REPLACE(DATE_FORMAT({c}, '\"%%Y-%%m-%%dT%%H:%%i:%%s.%%f+00:00\"'), '.000000+', '+')"
    ),
    "JSONField": "{c}",  # the stored text, as the ORM path embeds it
}

#: The line's column among a page's values.
LINE = "stream_exports_line"


def _servable(plan: RowPlan, names: tuple[str, ...]) -> list[tuple[str, models.Field]] | None:
    """``names`` with their model fields when MariaDB may write the rows: MariaDB in UTC,
    the fast path on, the plan in cursor order, the cursor among the names (the trailer's
    last value is read back), every field a plain column of a kind :data:`_JSON_TEXT`
    knows. The one test both formats' MariaDB paths pass."""
    connection = connections[plan.queryset.db]
    if connection.vendor != "mysql" or not getattr(connection, "mysql_is_mariadb", False):
        return None
    if plan.ordering or not conf.COPY_FAST_PATH or plan.cursor not in names:
        return None
    if connection.settings_dict.get("TIME_ZONE") not in (None, "UTC"):
        return None
    return plan.plain_columns(names, _JSON_TEXT)


def _column(plan: RowPlan, field: models.Field) -> str:
    assert field.column is not None  # (a plain column: _servable said so)
    quote = connections[plan.queryset.db].ops.quote_name
    return f"{quote(plan.queryset.model._meta.db_table)}.{quote(field.column)}"


def line_expression(plan: RowPlan, names: tuple[str, ...]) -> RawSQL | None:
    """Each row's line, ``CONCAT`` of keys and values, or None when not every field
    allows it."""
    fields = _servable(plan, names)
    if fields is None:
        return None
    parts, params = [], []
    for index, (name, field) in enumerate(fields):
        column, template = _column(plan, field), _JSON_TEXT[field.get_internal_type()]
        value, value_params = (
            _text(column) if template is _TEXT else (template.format(c=column), [])
        )
        if field.null:
            value = f"IF({column} IS NULL, 'null', {value})"
        parts += ["%s", value]
        params += [("," if index else "{") + orjson.dumps(name).decode() + ":", *value_params]
    return RawSQL(f"CONCAT({', '.join(parts)}, '}}')", params, output_field=models.TextField())


def line_batches(
    plan: RowPlan, names: tuple[str, ...]
) -> Generator[tuple[bytes, int, Any], None, None] | None:
    """(lines, how many, last cursor) per page; None when the plan does not allow it."""
    line = line_expression(plan, names)
    return None if line is None else _pages(plan, line, escape_separators)


def _pages(
    plan: RowPlan, line: RawSQL, finish: Callable[[bytes], bytes]
) -> Generator[tuple[bytes, int, Any], None, None]:
    """Each page's ``line`` of each row joined, ``finish``ed, ended by a newline."""
    lines = replace(
        plan, queryset=plan.queryset.annotate(**{LINE: line}), columns=(LINE, plan.cursor)
    )
    with closing(keyset_batches(lines, conf.CHUNK_SIZE)) as pages:
        for page in pages:
            joined = "\n".join([text for text, _ in page]).encode()
            yield finish(joined) + b"\n", len(page), page[-1][1]


#: Text kinds: written as they are (a formula escaped) and quoted where they must be.
_TEXT_KINDS = frozenset(kind for kind, template in _JSON_TEXT.items() if template is _TEXT)
#: How MariaDB writes the other kinds as the CSV format does; {c} is the column.
_CSV_TEXT = {
    **{kind: "{c}" for kind, template in _JSON_TEXT.items() if template == _INTEGER},
    "BooleanField": "IF({c}, 'true', 'false')",
    "DecimalField": "{c}",
    "DateField": "{c}",
    "DateTimeField": (
        "REPLACE(DATE_FORMAT({c}, '%%Y-%%m-%%dT%%H:%%i:%%s.%%f+00:00'), '.000000+', '+')"
    ),
}
#: What makes Python's csv writer quote a value (a CR too: ``csv_rows`` sees to it).
_QUOTED = re.compile('[,"\r\n]')


def _csv_quoted(text: str) -> str:
    """``text`` as Python's csv writer writes it among other values."""
    return '"' + text.replace('"', '""') + '"' if _QUOTED.search(text) else text


def _csv_text(column: str, formula_starts: tuple[str, ...]) -> tuple[str, list[Any]]:
    """A text's CSV text: quoted (quotes doubled) when it has a comma, quote, CR or LF;
    a ``'`` before it when it starts with one of ``formula_starts``."""
    plain, quoted = column, f"REPLACE({column}, '\"', '\"\"')"
    if formula_starts:
        codes = ", ".join(str(ord(start)) for start in formula_starts)
        formula = f"ASCII({column}) IN ({codes})"  # (its first byte: no collation's equal)
        plain = f"IF({formula}, CONCAT('''', {column}), {column})"
        quoted = f"CONCAT(IF({formula}, '''', ''), {quoted})"
    return f"IF({column} RLIKE %s, CONCAT('\"', {quoted}, '\"'), {plain})", [_QUOTED.pattern]


def csv_expression(
    plan: RowPlan,
    names: tuple[str, ...],
    formula_starts: tuple[str, ...] = (),
    labels: Mapping[int, Mapping[Any, str | None]] | None = None,
) -> RawSQL | None:
    """Each row's CSV line (without its end), or None where NDJSON's MariaDB path would
    not serve.

    A text that starts with one of ``formula_starts`` gets a ``'`` before it (a JSON
    column's never); ``labels``: by column index, the texts written for stored values,
    as the CSV format writes them (None: empty).
    """
    fields = _servable(plan, names)
    if fields is None:
        return None
    parts, params = [], []
    for index, (_, field) in enumerate(fields):
        column, kind = _column(plan, field), field.get_internal_type()
        if kind in _TEXT_KINDS or kind == "JSONField":
            value, value_params = _csv_text(column, formula_starts if kind != "JSONField" else ())
        else:
            value, value_params = _CSV_TEXT[kind].format(c=column), []
        if texts := (labels or {}).get(index):
            written = {stored: _csv_quoted(text or "") for stored, text in texts.items()}
            # (texts compared byte for byte, as a dict's keys are)
            compare = "= BINARY" if kind in _TEXT_KINDS else "="
            cases, case_params = label_cases(plan, field, column, written, compare)
            value, value_params = f"CASE {cases} ELSE {value} END", [*case_params, *value_params]
        parts.append(f"IFNULL({value}, '')" if field.null or texts else value)
        params += value_params
    if len(parts) == 1:  # (Python's writer quotes a row of one empty value)
        line = f"IF(CHAR_LENGTH({parts[0]}) = 0, '\"\"', {parts[0]})"
        params = [*params, *params]  # (the value twice)
    else:
        line = "CONCAT(" + ", ',', ".join(parts) + ")"
    return RawSQL(line, params, output_field=models.TextField())


def csv_batches(
    plan: RowPlan,
    names: tuple[str, ...],
    formula_starts: tuple[str, ...] = (),
    labels: Mapping[int, Mapping[Any, str | None]] | None = None,
) -> Generator[tuple[bytes, int, Any], None, None] | None:
    """(CSV rows, how many, last cursor) per page; None when :func:`csv_expression` is."""
    line = csv_expression(plan, names, formula_starts, labels)
    return None if line is None else _pages(plan, line, bytes)
