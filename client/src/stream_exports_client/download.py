"""Read an export to its trailer, every record once, resuming with ``after=`` when cut."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from .errors import ExportFailed, refusal
from .retry import RETRIED, retrying
from .trailer import parse_trailer

__all__ = ["Download", "Line", "Timeouts", "iter_records", "with_params"]

#: One record as it came (its raw line, without the ``\n``) and decoded.
Line = tuple[bytes, dict[str, Any]]


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait: to connect, for the first byte, between two lines."""

    connect: float = 10.0
    first_byte: float = 60.0
    between_lines: float = 60.0


def with_params(url: str, **params: Any) -> str:
    """``url`` with query parameters set (or removed when None); the rest kept as is."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, str(v)) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _set_read_timeout(response: requests.Response, seconds: float) -> None:
    """After the first byte, wait ``between_lines`` instead of ``first_byte``."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


class _Cut(Exception):
    """The body ended early: resume."""


@dataclass
class Download:
    """One export read to its trailer, resumed as often as it takes."""

    url: str
    cursor: str = "id"
    retries: int = 5
    backoff: float = 0.5
    timeouts: Timeouts = field(default_factory=Timeouts)
    session: requests.Session | None = None
    rows: int = 0
    bytes: int = 0
    resumes: int = 0
    last: Any = None
    limit: int | None = None

    def lines(self) -> Iterator[Line]:
        """(raw line, record) for every record, once each, in order."""
        session = self.session or requests.Session()
        query = dict(parse_qsl(urlsplit(self.url).query))
        # A resumed request counts its limit afresh: stop at the first request's.
        self.limit = int(query["limit"]) if query.get("limit", "").isdigit() else None

        def attempt() -> Iterator[Line]:
            url = self.url if self.last is None else with_params(self.url, after=self.last)
            return self._attempt(session, url)

        def resumed() -> None:
            self.resumes += 1

        yield from retrying(
            attempt, self.retries, self.backoff, "downloading", (*RETRIED, _Cut), resumed
        )

    def _attempt(self, session: requests.Session, url: str) -> Iterator[Line]:
        timeout = (self.timeouts.connect, self.timeouts.first_byte)
        with session.get(url, stream=True, timeout=timeout) as response:
            if response.status_code >= 400:
                raise refusal(response)
            _set_read_timeout(response, self.timeouts.between_lines)
            # Bytes, split on b"\n" only: iter_lines(decode_unicode=True) would also
            # split on U+2028/U+2029/U+0085 (escaped by the server, but not by every
            # proxy in between) and decode as Latin-1 without a charset.
            try:
                for raw in response.iter_lines(chunk_size=65536, delimiter=b"\n"):
                    if not raw:
                        continue
                    trailer = parse_trailer(raw)
                    if trailer is not None:
                        if trailer.complete:
                            return
                        error = trailer.error or "export failed"
                        if trailer.retry:  # the database went away: resume
                            raise _Cut(f"the server says: {error}")
                        raise ExportFailed(error)
                    record = json.loads(raw)
                    self.rows += 1
                    self.bytes += len(raw) + 1
                    self.last = record[self.cursor]
                    yield raw, record
                    if self.limit is not None and self.rows >= self.limit:
                        return
            except requests.exceptions.ChunkedEncodingError as exc:
                raise _Cut(f"body cut: {exc}") from exc
            except json.JSONDecodeError as exc:  # half a line at a cut
                raise _Cut(f"line cut: {exc}") from exc
        raise _Cut("the stream ended without its trailer")


def iter_records(url: str, **options: Any) -> Iterator[dict[str, Any]]:
    """Every record of the export at ``url``; see ``Download`` for the options."""
    for _, record in Download(url, **options).lines():
        yield record
