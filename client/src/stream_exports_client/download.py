"""Read stream_exports NDJSON exports from Python, every row once, over a bad network.

Depends only on ``requests`` (``tqdm`` for the command's progress, if present)::

    from stream_exports.client import iter_records

    for record in iter_records("https://host/exports/orders.ndjson?sig=..."):
        ...

A download that is cut (no trailer, a broken chunked body, a connection reset,
a timeout) is resumed with ``after=<last cursor>``; an error trailer raises
``ExportFailed``. The command, ``python -m stream_exports.client download URL``,
writes an export to a file or stdout with a progress display.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

T = TypeVar("T")

#: Exit codes of the command.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GAVE_UP, EXIT_REFUSED = 0, 1, 2, 3, 4


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


#: Statuses a retry may fix: busy, or the server or its database briefly gone.
TRANSIENT = frozenset({429, 500, 502, 503, 504})


class GaveUp(ClientError):
    """Still cut after every retry."""


#: Failures that a new request may not meet: the network, or a transient refusal.
RETRIED = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    Unavailable,
)


def retrying(
    attempt: Callable[[], Iterator[T]],
    retries: int,
    backoff: float,
    what: str,
    errors: tuple[type[BaseException], ...] = RETRIED,
    on_retry: Callable[[], None] = lambda: None,
) -> Iterator[T]:
    """Items of ``attempt()``, calling it again after ``errors`` with exponential backoff;
    the count of failures in a row resets whenever an item comes through."""
    failures = 0
    while True:
        try:
            for item in attempt():
                failures = 0
                yield item
            return
        except errors as exc:
            failures += 1
            if failures > retries:
                raise GaveUp(f"gave up {what} after {retries} retries: {exc}") from exc
            on_retry()
            time.sleep(backoff * 2 ** (failures - 1))


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


def _refusal(response: requests.Response) -> Refused:
    try:
        message = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or response.reason
    kind = Unavailable if response.status_code in TRANSIENT else Refused
    return kind(response.status_code, message)


def _set_read_timeout(response: requests.Response, seconds: float) -> None:
    """After the first byte, wait ``between_lines`` instead of ``first_byte``."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


@dataclass
class Download:
    """One export read to its trailer, resumed as often as it takes."""

    url: str
    cursor: str = "id"
    retries: int = 5
    backoff: float = 0.5
    timeouts: Timeouts = Timeouts()
    session: requests.Session | None = None
    rows: int = 0
    bytes: int = 0
    resumes: int = 0
    last: Any = None
    limit: int | None = None

    def lines(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """(raw line, record) for every record, once each, in order."""
        session = self.session or requests.Session()
        query = dict(parse_qsl(urlsplit(self.url).query))
        # A resumed request counts its limit afresh: stop at the first request's.
        self.limit = int(query["limit"]) if query.get("limit", "").isdigit() else None

        def attempt() -> Iterator[tuple[bytes, dict[str, Any]]]:
            url = self.url if self.last is None else with_params(self.url, after=self.last)
            return self._attempt(session, url)

        def resumed() -> None:
            self.resumes += 1

        yield from retrying(
            attempt, self.retries, self.backoff, "downloading", (*RETRIED, _Cut), resumed
        )

    def _attempt(self, session: requests.Session, url: str) -> Iterator[tuple[bytes, dict]]:
        timeout = (self.timeouts.connect, self.timeouts.first_byte)
        with session.get(url, stream=True, timeout=timeout) as response:
            if response.status_code >= 400:
                raise _refusal(response)
            _set_read_timeout(response, self.timeouts.between_lines)
            # Bytes, split on b"\n" only: iter_lines(decode_unicode=True) would also
            # split on U+2028/U+2029/U+0085 (escaped by the server, but not by every
            # proxy in between) and decode as Latin-1 without a charset.
            try:
                for raw in response.iter_lines(chunk_size=65536, delimiter=b"\n"):
                    if not raw:
                        continue
                    record = json.loads(raw)
                    trailer = record.get("_stream") if isinstance(record, dict) else None
                    if trailer is not None:
                        if trailer.get("status") == "complete":
                            return
                        error = trailer.get("error") or "export failed"
                        if trailer.get("retry"):  # the database went away: resume
                            raise _Cut(f"the server says: {error}")
                        raise ExportFailed(error)
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


class _Cut(Exception):
    """The body ended early: resume."""


def iter_records(url: str, **options: Any) -> Iterator[dict[str, Any]]:
    """Every record of the export at ``url``; see ``Download`` for the options."""
    for _, record in Download(url, **options).lines():
        yield record


@dataclass(frozen=True)
class Event:
    """One server-sent event."""

    event: str
    id: str
    data: Any


def _sse_events(response: requests.Response) -> Iterator[Event]:
    """Parse ``text/event-stream`` (fields event/id/data, comments skipped)."""
    kind, event_id, data = "message", "", []
    for raw in response.iter_lines(chunk_size=1024, delimiter=b"\n"):
        line = raw.decode()
        if not line:
            if data:
                yield Event(kind, event_id, json.loads("\n".join(data)))
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            kind = value
        elif name == "id":
            event_id = value
        elif name == "data":
            data.append(value)


def follow_job(
    url: str, retries: int = 5, backoff: float = 0.5, timeout: float = 60.0
) -> Iterator[Event]:
    """Status events of a job (its ``events`` link) until ``done``, reconnecting with
    ``Last-Event-ID`` when cut: no event lost, none repeated."""
    session, last = requests.Session(), {"id": ""}

    def attempt() -> Iterator[Event]:
        headers = {"Last-Event-ID": last["id"]} if last["id"] else {}
        with session.get(url, stream=True, timeout=(10, timeout), headers=headers) as response:
            if response.status_code >= 400:
                raise _refusal(response)
            for event in _sse_events(response):
                if event.id and event.id == last["id"]:
                    continue  # a finished job repeats its done event
                last["id"] = event.id or last["id"]
                yield event
                if event.event == "done":
                    return

    return retrying(attempt, retries, backoff, f"following {url}")


def tail_log(
    url: str, retries: int = 5, backoff: float = 0.5, timeout: float = 120.0
) -> Iterator[str]:
    """Lines of a job's log (its ``log`` link) until the final one; after a cut the
    log is read again and the lines already seen are skipped."""
    session, seen = requests.Session(), {"lines": 0}

    def attempt() -> Iterator[str]:
        with session.get(url, stream=True, timeout=(10, timeout)) as response:
            if response.status_code >= 400:
                raise _refusal(response)
            index = 0
            for raw in response.iter_lines(delimiter=b"\n"):
                if not raw:  # (what follows the last "\n")
                    continue
                index += 1
                if index > seen["lines"]:
                    seen["lines"] = index
                    yield raw.decode()

    return retrying(attempt, retries, backoff, f"reading {url}")


def _progress(download: Download) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(unit=" rows", unit_scale=True, file=sys.stderr, dynamic_ncols=True)


def download(args: argparse.Namespace) -> int:
    """The ``download`` command; returns its exit code."""
    out = open(args.output, "wb") if args.output != "-" else sys.stdout.buffer  # noqa: SIM115
    job = Download(args.url, cursor=args.cursor, retries=args.retries)
    bar = None if args.quiet else _progress(job)
    try:
        for raw, _ in job.lines():
            out.write(raw + b"\n")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(MB=f"{job.bytes / 1e6:.1f}", resumes=job.resumes, refresh=False)
    except ExportFailed as exc:
        print(f"export failed on the server: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except GaveUp as exc:
        print(f"{exc} (after {job.rows} rows; resume with after={job.last})", file=sys.stderr)
        return EXIT_GAVE_UP
    finally:
        if bar is not None:
            bar.close()
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    if not args.quiet:
        print(f"{job.rows} rows, {job.bytes} bytes, {job.resumes} resumes", file=sys.stderr)
    return EXIT_OK


def start(args: argparse.Namespace) -> int:
    """The ``start`` command: POST a job, follow it, then download its file."""
    response = requests.post(args.url, timeout=30)
    if response.status_code >= 400:
        print(f"refused: {_refusal(response)}", file=sys.stderr)
        return EXIT_REFUSED
    job = response.json()
    parts = urlsplit(args.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    print(f"job {job['id']}", file=sys.stderr)
    last: dict[str, Any] = job
    for event in follow_job(origin + job["links"]["events"]):
        last = event.data
        if not args.quiet:
            total = last.get("total") or "?"
            print(f"  {last['status']}: {last['rows']} of {total} rows", file=sys.stderr)
    if last.get("status") != "succeeded":
        print(f"job {last.get('status')}: {last.get('error')}", file=sys.stderr)
        return EXIT_FAILED
    args.url = origin + job["links"]["download"]
    return download(args)


def main(argv: list[str] | None = None) -> int:
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    output.add_argument("--cursor", default="id", help="the dataset's cursor field")
    output.add_argument("--retries", type=int, default=5, help="resumes in a row before giving up")
    output.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    parser = argparse.ArgumentParser(prog="python -m stream_exports.client")
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser(
        "download", parents=[output], help="download an export, resuming when cut"
    )
    get.add_argument("url", help="export URL (e.g. a signed one from manage.py export_url)")
    run = commands.add_parser(
        "start", parents=[output], help="start a job (POST its URL), follow it, download it"
    )
    run.add_argument("url", help="jobs URL, e.g. a signed /exports/<name>/jobs?... URL")
    args = parser.parse_args(argv)
    return download(args) if args.command == "download" else start(args)


if __name__ == "__main__":
    sys.exit(main())
