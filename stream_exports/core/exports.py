"""One export, ready to write: a dataset's rows, in a format, with its columns and options.

Every export is made here, whoever starts it: the export URL and a job from a parsed
query (:meth:`Export.of_query`), the admin from a changelist's rows
(:meth:`Export.of_rows`). The HTTP layer serves one (``http.exports.export_response``);
a job writes one to storage.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import capfirst

from .columns import columns_of
from .datasets import Dataset
from .formats.base import Content, Format, Position, WriteOptions
from .plan import RowPlan
from .query import ExportQuery

__all__ = ["Export"]


@dataclass(frozen=True)
class Export:
    """A dataset's rows (``content``) in ``format``."""

    dataset: Dataset
    format: Format
    content: Content

    @classmethod
    def of_query(cls, query: ExportQuery, user: Any, label: str = "") -> Export:
        """The rows ``user`` gets for ``query``, in cursor order."""
        plan = query.row_plan(user)
        return cls._make(query.dataset, query.format, plan, query.fields, query.write, label)

    @classmethod
    def of_rows(
        cls,
        dataset: Dataset,
        queryset: QuerySet,
        fields: Sequence[str],
        format: Format,
        options: WriteOptions | None = None,
        label: str = "",
    ) -> Export:
        """``queryset``'s rows (an admin changelist's, say) in its own order, else the
        dataset's cursor order."""
        plan = RowPlan.in_queryset_order(dataset, queryset, fields)
        return cls._make(dataset, format, plan, fields, options or WriteOptions(), label)

    @classmethod
    def _make(
        cls,
        dataset: Dataset,
        format: Format,
        plan: RowPlan,
        fields: Sequence[str],
        options: WriteOptions,
        label: str,
    ) -> Export:
        columns = columns_of(dataset.model, fields, dataset.labels)
        label = label or f"export {dataset.name!r}"
        title = dataset.label or capfirst(str(dataset.model._meta.verbose_name_plural))
        return cls(dataset, format, Content(plan, columns, options, label, title))

    def chunks(self, position: Position | None = None) -> Generator[bytes, None, None]:
        """The export as byte chunks (``position``, if given, kept up to date)."""
        return self.format.chunks(self.content, position if position is not None else Position())

    def continued(self, after: Any, limit: int | None) -> Export:
        """The rest of the export past cursor ``after`` (at most ``limit`` rows), written
        to follow what was written before it (no second header)."""
        content = self.content
        plan = replace(content.plan, after=after, limit=limit)
        options = replace(content.options, header=False)
        return replace(self, content=replace(content, plan=plan, options=options))

    def piece(self, after: Any, until: Any, first: bool) -> Export:
        """The rows past cursor ``after`` up to ``until``, written as one piece of the whole
        export: a header only if ``first``, no trailer (the whole has one)."""
        plan = replace(self.content.plan, after=after, until=until, limit=None)
        options = replace(self.content.options, header=first, trailer=False)
        return replace(self, content=replace(self.content, plan=plan, options=options))

    def tail(self, last: Any) -> Export:
        """What ends the export after its last row (cursor ``last``): NDJSON's trailer,
        nothing for CSV (write it from the position of the whole)."""
        return self.continued(last, 0)

    def filename(self, at: datetime | None = None) -> str:
        """``<dataset>-<UTC time>.<extension>``: what a download of it is saved as."""
        stamp = (at or timezone.now()).astimezone(UTC)
        return f"{self.dataset.name}-{stamp:%Y%m%dT%H%M%SZ}.{self.format.extension}"

    @property
    def fields(self) -> tuple[str, ...]:
        return self.content.names
