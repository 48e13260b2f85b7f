"""The ``stream-exports`` command (also ``python -m stream_exports_client``)::

    stream-exports download URL [-o FILE]   an export, resumed when cut
    stream-exports start JOBS_URL [-o FILE] start a job, follow it, download its file

Exit codes: 0 complete, 1 failed on the server, 2 usage, 3 gave up, 4 refused.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlsplit

import requests

from .download import Download
from .errors import ExportFailed, GaveUp, Refused, refusal
from .sse import follow_job

__all__ = ["EXIT_FAILED", "EXIT_GAVE_UP", "EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE", "main"]

#: Exit codes of the command.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GAVE_UP, EXIT_REFUSED = 0, 1, 2, 3, 4


def _progress() -> Any:
    """A tqdm bar on stderr, or None without tqdm (the ``progress`` extra)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(unit=" rows", unit_scale=True, file=sys.stderr, dynamic_ncols=True)


def download(args: argparse.Namespace) -> int:
    """The ``download`` command; returns its exit code."""
    out = open(args.output, "wb") if args.output != "-" else sys.stdout.buffer  # noqa: SIM115
    job = Download(args.url, cursor=args.cursor, retries=args.retries)
    bar = None if args.quiet else _progress()
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
        print(f"refused: {refusal(response)}", file=sys.stderr)
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


def parser() -> argparse.ArgumentParser:
    """The command line: ``download URL`` and ``start URL``, with the output options."""
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    output.add_argument("--cursor", default="id", help="the dataset's cursor field")
    output.add_argument("--retries", type=int, default=5, help="resumes in a row before giving up")
    output.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    command = argparse.ArgumentParser(
        prog="stream-exports", description="Download stream_exports exports, resuming when cut."
    )
    commands = command.add_subparsers(dest="command", required=True)
    get = commands.add_parser(
        "download", parents=[output], help="download an export, resuming when cut"
    )
    get.add_argument("url", help="export URL (e.g. a signed one from manage.py export_url)")
    run = commands.add_parser(
        "start", parents=[output], help="start a job (POST its URL), follow it, download it"
    )
    run.add_argument("url", help="jobs URL, e.g. a signed /exports/<name>/jobs?... URL")
    return command


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); returns its exit code."""
    args = parser().parse_args(argv)
    return download(args) if args.command == "download" else start(args)
