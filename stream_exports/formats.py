"""Public: the formats an export is written in, and a project's own
(:mod:`stream_exports.core.formats` is their home)."""

from .core.formats.base import Content, Format, Position, WriteOptions
from .core.formats.registry import UnknownFormat, formats, get_format, register_format

__all__ = [
    "Content",
    "Format",
    "Position",
    "UnknownFormat",
    "WriteOptions",
    "formats",
    "get_format",
    "register_format",
]
