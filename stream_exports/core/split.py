"""Splitting a plan's cursor into ranges of about as many rows each, without reading the rows.

PostgreSQL's own statistics when they are fresh and describe the rows (the whole table,
no filter: ``pg_stats.histogram_bounds``, a hundred quantiles of the column); elsewhere
probes of the cursor's index (``ORDER BY cursor OFFSET k LIMIT 1``, each from the last
cut, so the index is walked once and no row is read).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections

from .plan import RowPlan

__all__ = ["Range", "estimated_rows", "histogram_cuts", "split"]

#: Rows changed since the last ANALYZE, as a share of the table, past which its
#: statistics are too old to split by.
STALE_SHARE = 0.1


@dataclass(frozen=True)
class Range:
    """The rows whose cursor is past ``after`` (None: from the first) up to and including
    ``until`` (None: to the last)."""

    after: Any
    until: Any


def split(plan: RowPlan, parts: int, total: int) -> list[Range]:
    """At most ``parts`` ranges covering ``plan``'s rows (``total`` of them, its ``limit``
    counted), of about ``total / parts`` rows each, in cursor order."""
    if parts <= 1 or total <= 1:
        return [Range(plan.after, _last(plan, total))]
    cuts = histogram_cuts(plan, parts) if _unfiltered(plan) else None
    if cuts is None:
        cuts = _probe_cuts(plan, parts, total)
    bounds = [plan.after, *cuts, _last(plan, total)]
    return [Range(after, until) for after, until in itertools.pairwise(bounds)]


def _unfiltered(plan: RowPlan) -> bool:
    """Whether ``plan`` reads its whole table (the statistics describe its rows)."""
    query = plan.queryset.query
    return (
        plan.after is None
        and plan.limit is None
        and not query.where
        and not query.low_mark
        and query.high_mark is None
    )


def _last(plan: RowPlan, total: int) -> Any:
    """The last cursor a limited plan reads (None: read to the end)."""
    if plan.limit is None:
        return None
    return _cursor_at(plan, plan.after, total - 1)


def _cursor_at(plan: RowPlan, after: Any, offset: int) -> Any:
    """The cursor of the row ``offset`` rows past ``after``, in cursor order (None: none)."""
    queryset = plan.queryset.order_by()
    if after is not None:
        queryset = queryset.filter(**{f"{plan.cursor}__gt": after})
    values = queryset.order_by(plan.cursor).values_list(plan.cursor, flat=True)
    return values[offset : offset + 1].first()


def _probe_cuts(plan: RowPlan, parts: int, total: int) -> list[Any]:
    """Cuts ``total / parts`` rows apart, each probed from the one before it."""
    step = math.ceil(total / parts)
    cuts: list[Any] = []
    after = plan.after
    for _ in range(parts - 1):
        if step * (len(cuts) + 1) >= total:
            break
        after = _cursor_at(plan, after, step - 1)
        if after is None:
            break
        cuts.append(after)
    return cuts


def histogram_cuts(plan: RowPlan, parts: int) -> list[Any] | None:
    """``parts - 1`` cuts from PostgreSQL's histogram of the cursor column: None when not
    on PostgreSQL, the table was not analysed since much of it changed, or the column
    has no histogram (too few distinct values)."""
    queryset = plan.queryset
    connection = connections[queryset.db]
    field = plan.column_field(plan.cursor)
    kind = field.db_type(connection) if field is not None else None
    if connection.vendor != "postgresql" or field is None or kind is None:
        return None
    table, column = queryset.model._meta.db_table, field.column
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.histogram_bounds::text::{kind}[], "
            "t.n_mod_since_analyze, c.reltuples "
            "FROM pg_stats s JOIN pg_stat_user_tables t "
            "ON t.schemaname = s.schemaname AND t.relname = s.tablename "
            "JOIN pg_class c ON c.oid = t.relid "
            "WHERE s.schemaname = current_schema() AND s.tablename = %s AND s.attname = %s",
            [table, column],
        )
        found = cursor.fetchone()
    if found is None or found[0] is None:
        return None
    bounds, changed, rows = found
    if rows <= 0 or changed > STALE_SHARE * rows or len(bounds) <= parts:
        return None
    return _quantiles(bounds, parts)


def _quantiles(bounds: Sequence[Any], parts: int) -> list[Any]:
    """``parts - 1`` of a histogram's bounds, splitting it in ``parts`` equal shares."""
    buckets = len(bounds) - 1
    picked = [bounds[round(buckets * k / parts)] for k in range(1, parts)]
    return sorted(set(picked))


def estimated_rows(plan: RowPlan) -> int | None:
    """About how many rows ``plan`` reads, from the query planner's estimate, without reading
    them (PostgreSQL's ``EXPLAIN``; MariaDB/MySQL's, from the table's statistics and index
    dives); None on SQLite, whose planner does not estimate rows."""
    queryset = plan.queryset.order_by()
    vendor = connections[queryset.db].vendor
    if vendor == "postgresql":
        explained = json.loads(queryset.explain(format="json"))
        rows = int(explained[0]["Plan"]["Plan Rows"])
    elif vendor == "mysql":
        rows = _mysql_estimate(queryset)
    else:
        return None
    return min(rows, plan.limit) if plan.limit is not None else rows


def _mysql_estimate(queryset: Any) -> int:
    """The rows MariaDB/MySQL's ``EXPLAIN`` expects the query to give: each table's rows
    (times its ``filtered`` share where given), multiplied along the join."""
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        names = [column[0].lower() for column in cursor.description]
        found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    rows = 1.0
    for step in found:
        if step.get("select_type") in ("SIMPLE", "PRIMARY") and step.get("rows") is not None:
            rows *= float(step["rows"]) * float(step.get("filtered") or 100) / 100
    return round(rows)
