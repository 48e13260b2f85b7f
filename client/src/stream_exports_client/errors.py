"""What this client raises, and how a refused request becomes one of them."""

from __future__ import annotations

import requests

__all__ = [
    "TRANSIENT",
    "ClientError",
    "ExportFailed",
    "GaveUp",
    "Refused",
    "Unavailable",
    "refusal",
]

#: Statuses a retry may fix: busy, or the server or its database briefly gone.
TRANSIENT = frozenset({429, 500, 502, 503, 504})


class ClientError(Exception):
    """Base of the errors this client raises."""


class ExportFailed(ClientError):
    """The server ended the export with an error trailer."""


class Refused(ClientError):
    """The server refused the request (4xx/5xx before the first byte)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Unavailable(Refused):
    """A refusal that may pass (429, 500, 502, 503, 504): retried like a cut."""


class GaveUp(ClientError):
    """Still cut after every retry."""


def refusal(response: requests.Response) -> Refused:
    """The error for a 4xx/5xx ``response``, carrying the server's ``{"error": ...}``."""
    try:
        message = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or response.reason
    kind = Unavailable if response.status_code in TRANSIENT else Refused
    return kind(response.status_code, message)
