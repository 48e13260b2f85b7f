"""Import paths that moved: the old path keeps working, with a ``DeprecationWarning``
naming the new one, until 1.0 (the changelog lists them)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from django.utils.module_loading import import_string

__all__ = ["REMOVED_IN", "moved_module", "moved_names"]

#: The release in which the old paths go.
REMOVED_IN = "1.0"


def _warn(old: str, new: str) -> None:
    warnings.warn(
        f"{old} moved to {new}; the old path goes in stream_exports {REMOVED_IN}.",
        DeprecationWarning,
        stacklevel=3,
    )


def moved_module(old: str, new: str) -> None:
    """Warn that module ``old`` is now ``new`` (called by the old module as it is imported)."""
    _warn(old, new)


def moved_names(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving each name of ``names`` from its new dotted path
    (``{"Status": "stream_exports.jobs.models.JobStatus"}``), with a warning."""

    def __getattr__(name: str) -> Any:
        new = names.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        _warn(f"{module}.{name}", new)
        return import_string(new)

    return __getattr__
