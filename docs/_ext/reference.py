"""Reference tables generated from the code, so the docs cannot drift from it.

Loaded by ``docs/conf.py`` after ``django.setup()``.

``{settings-reference}`` renders every ``stream_exports.conf.Setting`` (key,
default, meaning) grouped by section; ``{checks-reference}`` renders the table
of system check ids in the ``stream_exports.checks`` docstring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from stream_exports import checks, conf
from stream_exports.aws import checks as aws_checks

__all__ = ["ChecksReference", "SettingsReference", "setup"]

_CODE = re.compile(r"``(.+?)``|`(.+?)`")


def inline(text: str) -> list[nodes.Node]:
    """``text`` as docutils nodes: backticked parts as code, the rest as plain text."""
    parts: list[nodes.Node] = []
    end = 0
    for match in _CODE.finditer(text):
        if match.start() > end:
            parts.append(nodes.Text(text[end : match.start()]))
        code = match.group(1) or match.group(2)
        parts.append(nodes.literal(code, code))
        end = match.end()
    if end < len(text):
        parts.append(nodes.Text(text[end:]))
    return parts


def show_default(value: Any) -> str:
    """A default as a user writes it in ``STREAM_EXPORTS``: strings quoted, numbers plain."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def table(header: Iterable[str], rows: Iterable[Iterable[list[nodes.Node]]]) -> nodes.table:
    """A plain docutils table from a header and rows of cells (each a list of inline nodes)."""
    header = list(header)
    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=1) for _ in header]
    head = nodes.thead()
    head += _row([[nodes.Text(title)] for title in header])
    body = nodes.tbody()
    body += [_row(cells) for cells in rows]
    group += [head, body]
    result = nodes.table(classes=["reference-table"])
    result += group
    return result


def _row(cells: Iterable[list[nodes.Node]]) -> nodes.row:
    row = nodes.row()
    for content in cells:
        entry = nodes.entry()
        paragraph = nodes.paragraph()
        paragraph += content
        entry += paragraph
        row += entry
    return row


class SettingsReference(SphinxDirective):
    """Every key of ``STREAM_EXPORTS``, one section per ``Setting.section``."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(conf.__file__)  # rebuilt whenever the settings change
        sections: dict[str, list[Any]] = {}
        for setting in conf.Settings.declared():
            sections.setdefault(setting.section, []).append(setting)
        result: list[nodes.Node] = []
        for title, settings in sections.items():
            section = nodes.section(ids=[nodes.make_id(f"settings-{title}")], names=[title.lower()])
            section += nodes.title(title, title)
            rows = [
                [
                    [nodes.literal(s.name, s.name)],
                    [nodes.literal(show_default(s.default), show_default(s.default))],
                    inline(s.help),
                ]
                for s in settings
            ]
            section += table(["key", "default", "meaning"], rows)
            result.append(section)
        return result


def check_rows(docstring: str) -> list[tuple[str, str]]:
    """The (id, problem) rows of the simple table in a module docstring."""
    lines = docstring.splitlines()
    rules = [i for i, line in enumerate(lines) if re.fullmatch(r"=+ +=+", line.strip())]
    if len(rules) < 2:
        raise ValueError("stream_exports.checks: no table of check ids in its docstring")
    rows = []
    for line in lines[rules[0] + 1 : rules[1]]:
        if line.strip():
            check_id, problem = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            rows.append((check_id.strip("`"), problem))
    return rows


class ChecksReference(SphinxDirective):
    """The system check ids and the problem each one names (``stream_exports.checks`` and
    ``stream_exports.aws.checks``), in id order."""

    def run(self) -> list[nodes.Node]:
        found = []
        for module in (checks, aws_checks):
            self.env.note_dependency(module.__file__)
            found += check_rows(module.__doc__ or "")
        rows = [
            [[nodes.literal(check_id, check_id)], inline(problem)]
            for check_id, problem in sorted(found)
        ]
        return [table(["id", "problem"], rows)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("settings-reference", SettingsReference)
    app.add_directive("checks-reference", ChecksReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
