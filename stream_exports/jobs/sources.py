"""Where a job's rows come from when not from its dataset's own queryset.

The export core knows one source of rows: a dataset, filtered. An integration
may offer others under a kind of its own (the admin registers its changelists)
and a job stores ``{"kind": ..., ...}`` as its ``source``; the worker asks the
kind's resolver for the rows as the job's owner. The jobs subsystem so needs no
import of the integrations that start jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db.models import QuerySet

__all__ = ["Resolver", "UnknownSource", "register_source", "source_rows"]

#: ``(source, user) -> QuerySet``: the rows a stored source names, as ``user`` sees them.
Resolver = Callable[[Mapping[str, Any], Any], QuerySet]

_resolvers: dict[str, Resolver] = {}


class UnknownSource(LookupError):
    """A job's source names a kind that no installed integration registered."""


def register_source(kind: str, resolver: Resolver) -> None:
    """Let jobs whose ``source["kind"]`` is ``kind`` read the rows ``resolver`` gives."""
    _resolvers[kind] = resolver


def source_rows(source: Mapping[str, Any], user: Any) -> QuerySet:
    """The rows ``source`` names, as ``user`` sees them; ``UnknownSource`` if no one can say."""
    kind = str(source.get("kind", ""))
    resolver = _resolvers.get(kind)
    if resolver is None:
        known = ", ".join(sorted(_resolvers)) or "none"
        raise UnknownSource(f"no source of kind {kind!r} is registered (registered: {known}).")
    return resolver(source, user)
