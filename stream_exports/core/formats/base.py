"""What a format is, what it writes, and how far a write has come.

A format is a class: its name (the URL suffix and what a job stores), the title people
see, its media type and file extension, whether negotiated compression applies to it,
the options only it takes, and :meth:`Format.chunks`, which writes an export's rows as a
generator of byte chunks. :mod:`~stream_exports.core.formats.registry` keeps them by name.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings
from django.db import DatabaseError

from ..columns import Column
from ..plan import RowPlan
from ..readers import row_batches

__all__ = ["Content", "Format", "Position", "WriteOptions", "describe_failure"]

logger = logging.getLogger("stream_exports")


@dataclass
class Position:
    """How far a write has come: rows written and the cursor of the last one, and, once
    it has failed after its first byte, why (what the client is told).

    A write continued elsewhere (a job's next slice) starts from where the last one
    stopped, so its counts cover every row."""

    rows: int = 0
    last: Any = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class WriteOptions:
    """How the rows are written (never which rows).

    ``trailer``: NDJSON's last line. ``bom``: CSV's byte-order mark. ``header``: a header
    row (not in a job file's continuation). ``labels``: headers and choice values as
    people read them (verbose names, choice labels) rather than names and stored values.
    """

    trailer: bool = True
    bom: bool = False
    header: bool = True
    labels: bool = False


@dataclass(frozen=True)
class Content:
    """What a format writes: the plan's rows, in these columns, so; ``label`` names the
    export in log lines, ``title`` the rows for people (a workbook's sheet)."""

    plan: RowPlan
    columns: tuple[Column, ...]
    options: WriteOptions = field(default_factory=WriteOptions)
    label: str = "export"
    title: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def headers(self) -> tuple[str, ...]:
        """The header row: the columns' labels with ``labels``, else their names."""
        if self.options.labels:
            return tuple(column.label for column in self.columns)
        return self.names

    @property
    def labelled(self) -> dict[int, Mapping[Any, str]]:
        """The columns whose values are written as their choices' labels (by index):
        with ``labels``, the choice fields but the cursor (read back to resume); none
        without."""
        if not self.options.labels:
            return {}
        cursor = self.plan.cursor
        return {
            index: column.choices
            for index, column in enumerate(self.columns)
            if column.choices is not None and column.name != cursor
        }

    def batches(self) -> Generator[list[tuple[Any, ...]], None, None]:
        """The rows, a batch of value tuples at a time (``names`` in order, then maybe
        more), read as the ``ENGINE`` setting says, with :attr:`labelled` columns' values
        as their labels; close it to end the query early."""
        batches = row_batches(self.plan)
        labelled = self.labelled
        return _with_labels(batches, labelled) if labelled else batches


def _with_labels(
    batches: Generator[list[tuple[Any, ...]], None, None], labelled: dict[int, Mapping[Any, str]]
) -> Generator[list[tuple[Any, ...]], None, None]:
    """``batches`` with the values of the ``labelled`` columns replaced by their labels (a
    value no choice has stays as it is)."""
    with closing(batches):
        for batch in batches:
            rows = [list(row) for row in batch]
            for index, labels in labelled.items():
                for row in rows:
                    row[index] = _label(labels, row[index])
            yield [tuple(row) for row in rows]


def _label(labels: Mapping[Any, str], value: Any) -> Any:
    try:
        return labels.get(value, value)
    except TypeError:  # (a value that cannot be a key: a list from a JSON field)
        return value


def describe_failure(exc: BaseException, what: str = "export failed") -> str:
    """What a client (an export that failed after it began) or a job's owner is told of a
    failure: ``what`` and its kind; its message, which may hold paths, SQL or a storage's
    details, only with DEBUG (the server log has it)."""
    if settings.DEBUG:
        return f"{type(exc).__name__}: {exc}" if what == "export failed" else f"{what}: {exc}"
    kind = "database error" if isinstance(exc, DatabaseError) else "server error"
    return f"{what} ({kind}, {type(exc).__name__}); the server log has the cause"


class Format:
    """One way to write an export's rows. Subclass it, set the class attributes, write
    :meth:`chunks`, and register an instance (:func:`~.registry.register_format`)."""

    #: In URLs (``/exports/<dataset>.<name>``) and on jobs; lowercase letters, at most 8.
    name: ClassVar[str]
    #: What people choose it by ("Excel").
    title: ClassVar[str]
    media_type: ClassVar[str]
    extension: ClassVar[str]
    #: What the body is, for people (and the API document).
    description: ClassVar[str] = ""
    #: Whether each line of the body is one record as JSON (the API document gives its schema).
    line_per_record: ClassVar[bool] = False
    #: Whether ``Accept-Encoding`` may compress it, and a job's file is gzipped (``JOB_FILE_GZIP``):
    #: not a zip, which is compressed already.
    compressible: ClassVar[bool] = True
    #: Whether a job may stop at a checkpoint and write the rest in a next run, after the
    #: bytes already stored (``JOB_SLICE_SECONDS``, a Lambda deadline): not a zip, whose
    #: end indexes every member before it.
    continuable: ClassVar[bool] = True
    #: The options (``core.query.OPTIONS`` marked ``per_format``) this format takes.
    options: ClassVar[tuple[str, ...]] = ()

    def chunks(self, content: Content, position: Position) -> Generator[bytes, None, None]:
        """``content``'s rows as byte chunks, keeping ``position`` up to date as each
        leaves. A failure after the first byte sets ``position.error``; the format then
        ends as it can (NDJSON: an error trailer) or raises (the server breaks the
        connection, so the client sees a cut, never a short file)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} format {self.name!r}>"


def failed(content: Content, position: Position, exc: BaseException) -> None:
    """Log a write that failed after its first byte and say why in ``position``."""
    logger.exception(
        "%s failed after %d rows (last cursor %r)", content.label, position.rows, position.last
    )
    position.error = describe_failure(exc)
