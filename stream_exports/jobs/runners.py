"""Moved to :mod:`stream_exports.runners`; this path warns and goes in 1.0."""

from ..moved import moved_module
from ..runners.base import *  # noqa: F403
from ..runners.local import *  # noqa: F403

moved_module(__name__, "stream_exports.runners")
