"""Django exports that start at once and never hold the whole result in memory."""

from __future__ import annotations

__version__ = "0.1.0"
