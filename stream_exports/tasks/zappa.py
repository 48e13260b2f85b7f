"""Moved to :mod:`stream_exports.runners.on_zappa`; this path warns and goes in 1.0."""

from ..moved import moved_module
from ..runners.on_zappa import *  # noqa: F403

moved_module(__name__, "stream_exports.runners.on_zappa")
