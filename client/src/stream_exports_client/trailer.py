"""The last line of an export, read the way the server writes it.

The server's own reader is ``stream_exports.core.formats.ndjson.parse_trailer``; this
client cannot import Django, so it keeps this twin, and a contract test in the
server's suite feeds the server's real trailer lines to both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["TRAILER_KEY", "Trailer", "parse_trailer"]

#: The one key of a trailer line (a record line holds the dataset's fields instead).
TRAILER_KEY = "_stream"

_PREFIX = b'{"' + TRAILER_KEY.encode() + b'"'


@dataclass(frozen=True)
class Trailer:
    """What the last line of an export says: ``complete``, or ``error`` with why
    (``retry`` when resuming with ``after=last`` will get the rest)."""

    status: str
    rows: int
    last: Any
    error: str = ""
    retry: bool = False

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def parse_trailer(line: bytes) -> Trailer | None:
    """The trailer ``line`` is, or None for a record line (or half a line, or anything else)."""
    if not line.startswith(_PREFIX):
        return None
    try:
        body = json.loads(line)[TRAILER_KEY]
        return Trailer(
            status=str(body.get("status") or ""),
            rows=int(body.get("rows") or 0),
            last=body.get("last"),
            error=str(body.get("error") or ""),
            retry=bool(body.get("retry", False)),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
