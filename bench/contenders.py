"""Every way of exporting the table that is measured, and how one run of each is made."""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import httpx

from .measure import Transfer, curl, prewarm, psql_copy, workbook_rows
from .servers import OUT, Server, serve

ORM_PATH = {"STREAM_EXPORTS": json.dumps({"COPY_FAST_PATH": False})}
NO_AUDIT = {"STREAM_EXPORTS": json.dumps({"AUDIT": False})}
IMMEDIATE = {"STREAM_EXPORTS": json.dumps({"JOB_RUNNER": "stream_exports.runners.ImmediateRunner"})}
THREAD = {"STREAM_EXPORTS": json.dumps({"JOB_RUNNER": "stream_exports.runners.ThreadRunner"})}
MEDIA = OUT / "media"
#: Where a workbook's body is kept while a run reads it (its rows are counted after).
BODY = OUT / "body.xlsx"


@dataclass
class Run:
    """One measured run. ``ratio``: wall over that of the psql run of the same rows before it."""

    wall: float
    first_byte: float | None = None
    bytes: int | None = None
    lines: int | None = None
    rss_mb: float | None = None
    ratio: float | None = None
    cpu: float | None = None  # the server's CPU seconds for the request (exports)
    #: An XLSX export's: the first byte of the fresh server's first workbook (``limit=1``,
    #: before the timed run), which imports the zip writer (stream-zip, pycryptodome).
    first_workbook: float | None = None


@dataclass
class Contender:
    """A way to export ``rows`` rows; ``kind`` says how a run is made."""

    key: str
    label: str
    kind: str  # psql, view, export, job-immediate, job-thread
    rows: int
    server: str | None = None
    path: str = ""
    env: dict[str, str] = field(default_factory=dict)
    slow: bool = False
    encoding: str = "identity"  # what an export asks for (Accept-Encoding)
    format: str = "ndjson"  # an export's: /exports/orders.<format>
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        """The median of ``attr`` over the runs that have it."""
        values = [v for run in self.runs if (v := getattr(run, attr)) is not None]
        return statistics.median(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        """For results.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contender:
        """Back from results.json."""
        runs = [Run(**run) for run in data["runs"]]
        return cls(**{**data, "runs": runs})


def psql_key(rows: int, format: str = "ndjson") -> str:
    """The key of the psql anchor for ``rows`` rows (``format`` csv: the CSV anchor)."""
    return f"psql-{rows}" if format == "ndjson" else f"psql-{format}-{rows}"


def csv_key(server: str, rows: int, path: str = "ours") -> str:
    """The key of this package's CSV export on ``server`` at ``rows`` (``path`` python:
    written by Python, ``COPY_FAST_PATH`` off)."""
    return f"csv-{path}-{server}-{rows}"


def ours_key(path: str, server: str, rows: int) -> str:
    """The key of this package's export (``path`` COPY or ORM) on ``server`` at ``rows``."""
    return f"ours-{path}-{server}-{rows}"


def no_audit_key(server: str, rows: int) -> str:
    """The key of the default export with auditing off (next to the same with it on)."""
    return ours_key("COPY", server, rows) + "-noaudit"


def encoded_key(encoding: str, rows: int) -> str:
    """The key of the default export (gunicorn) asking for ``encoding``."""
    return ours_key("COPY", "gunicorn", rows) + ("" if encoding == "identity" else f"-{encoding}")


ENCODINGS = ("identity", "gzip", "zstd")


def contenders(rows: int) -> list[Contender]:
    """Everything measured, in the order of a round; the psql anchors first."""
    small = max(rows // 10, 1)
    found = [
        Contender(psql_key(small), "psql \\copy row_to_json (anchor)", "psql", small),
        Contender(psql_key(rows), "psql \\copy row_to_json (anchor)", "psql", rows),
        Contender(
            "naive", "naive view: model_to_dict + json.dumps", "view", rows, "gunicorn",
            "/bench/naive.ndjson",
        ),
        Contender(
            "values", ".values() + orjson, 500-row chunks", "view", rows, "gunicorn",
            "/bench/values.ndjson",
        ),
        Contender(
            "whole", "non-streaming HttpResponse (whole list)", "view", rows, "gunicorn",
            "/bench/whole.json", slow=True,
        ),
        Contender(
            "import-export", "django-import-export ModelResource", "view", rows, "gunicorn",
            "/bench/import-export.json", slow=True,
        ),
    ]  # fmt: skip
    for n in (small, rows):
        found.append(
            Contender(
                f"asgi-sync-{n}", "sync generator (.values + orjson) under ASGI", "view", n,
                "uvicorn", "/bench/values.ndjson",
            )
        )  # fmt: skip
    jobs = {
        "gunicorn": Contender(
            "job-immediate", "stream_exports job, ImmediateRunner: POST until done",
            "job-immediate", rows, "gunicorn", env=IMMEDIATE,
        ),
        "uvicorn": Contender(
            "job-thread", "stream_exports job, ThreadRunner: POST, then SSE until done",
            "job-thread", rows, "uvicorn", env=THREAD,
        ),
    }  # fmt: skip
    found += csv_contenders(small, rows)
    for server in ("gunicorn", "uvicorn"):
        for path, env in (("COPY", {}), ("ORM", ORM_PATH)):
            label = f"stream_exports, {path} path" + (" (default)" if path == "COPY" else "")
            for n in (small, rows):
                found.append(
                    Contender(ours_key(path, server, n), label, "export", n, server, env=env)
                )
                if path == "COPY" and server == "gunicorn":  # the audit trail's cost
                    key, off = no_audit_key(server, n), f"{label}, auditing off"
                    found.append(Contender(key, off, "export", n, server, env=NO_AUDIT))
                if path == "COPY" and server == "gunicorn" and n == rows:  # compressed
                    for encoding in ENCODINGS[1:]:
                        found.append(
                            Contender(
                                encoded_key(encoding, n), f"{label}, {encoding}", "export", n,
                                server, encoding=encoding,
                            )
                        )  # fmt: skip
            if path == "COPY":  # next to the live stream it is compared with
                found.append(jobs[server])
    return found


def csv_contenders(small: int, rows: int) -> list[Contender]:
    """The CSV export (issue 27) at ``small`` and ``rows`` rows on both servers, and at
    ``rows`` written by Python (the path before COPY), after its anchor: psql's
    ``\\copy`` of the same columns as CSV, which each run is paired with."""
    label = "psql \\copy of the columns, CSV (the CSV anchor)"
    found = [Contender(psql_key(n, "csv"), label, "psql", n, format="csv") for n in (small, rows)]
    for server in ("gunicorn", "uvicorn"):
        for n in (small, rows):
            found.append(
                Contender(
                    csv_key(server, n), "stream_exports CSV, COPY path (default)", "export", n,
                    server, format="csv",
                )
            )  # fmt: skip
        found.append(
            Contender(
                csv_key(server, rows, "python"), "stream_exports CSV, Python path", "export",
                rows, server, env=ORM_PATH, format="csv",
            )
        )  # fmt: skip
    return found


def anchor_of(contender: Contender, anchors: dict[tuple[int, str], Contender]) -> Contender:
    """The psql anchor a run of ``contender`` is paired with: the CSV anchor for the CSV
    section's runs, else ``row_to_json``'s, at the same rows."""
    csv_anchor = anchors.get((contender.rows, "csv")) if contender.key.startswith("csv-") else None
    return csv_anchor or anchors[(contender.rows, "ndjson")]


def xlsx_key(what: str, server: str, rows: int) -> str:
    """The key of the XLSX section's contender ``what`` (ours, csv, xlsxwriter, ...)."""
    return f"xlsx-{what}-{server}-{rows}"


def xlsx_contenders(rows: int) -> list[Contender]:
    """The XLSX section (issue 23), in the order of a round; the psql anchors first (each
    run is paired with one): this package's XLSX export at ROWS/10 and ROWS and its CSV
    export of the same rows under both servers, then xlsxwriter and django-import-export
    behind views of a Django project."""
    small = max(rows // 10, 1)
    found = [
        Contender(psql_key(n), "psql \\copy row_to_json (anchor)", "psql", n) for n in (small, rows)
    ]
    for server in ("gunicorn", "uvicorn"):
        for n in (small, rows):
            found.append(
                Contender(
                    xlsx_key("ours", server, n), "stream_exports XLSX", "export", n, server,
                    format="xlsx",
                )
            )  # fmt: skip
        found.append(
            Contender(
                xlsx_key("csv", server, rows), "stream_exports CSV (the same rows)", "export",
                rows, server, format="csv",
            )
        )  # fmt: skip
    found += [
        Contender(
            xlsx_key("xlsxwriter", "gunicorn", rows),
            "xlsxwriter constant_memory: a temporary file, then sent", "view", rows,
            "gunicorn", "/bench/xlsxwriter.xlsx",
        ),
        Contender(
            xlsx_key("import-export", "gunicorn", rows),
            "django-import-export XLSX (tablib, openpyxl)", "view", rows, "gunicorn",
            "/bench/import-export.xlsx", slow=True,
        ),
    ]  # fmt: skip
    return found


@dataclass
class Context:
    """What a run needs besides its contender."""

    database_url: str
    table_rows: int
    sign: Callable[[str, dict[str, str]], str]  # (path, params) -> signed "path?query"
    username: str  # who signs, and starts the SSE load's jobs


def row_limit(contender: Contender, context: Context) -> int | None:
    """The ``limit`` that cuts the table to the contender's rows (None: the whole table)."""
    return None if contender.rows == context.table_rows else contender.rows


def limit_query(contender: Contender, context: Context) -> dict[str, str]:
    """``{"limit": N}`` when the contender exports less than the table, else nothing."""
    limit = row_limit(contender, context)
    return {} if limit is None else {"limit": str(limit)}


def from_transfer(transfer: Transfer, server: Server) -> Run:
    """A run from what curl received and the server's peak memory."""
    return Run(
        transfer.wall, transfer.first_byte, transfer.bytes, transfer.lines, server.peak_rss_mb()
    )


def is_workbook(contender: Contender) -> bool:
    return contender.format == "xlsx" or contender.path.endswith(".xlsx")


def run_view(contender: Contender, context: Context, server: Server) -> Run:
    """A bench view (bench/views.py); a workbook must hold every row."""
    query = limit_query(contender, context)
    url = server.url + contender.path + (f"?limit={query['limit']}" if query else "")
    transfer = curl(url, keep=BODY if is_workbook(contender) else None)
    check_whole(contender, transfer)
    return from_transfer(transfer, server)


def run_export(contender: Contender, context: Context, server: Server) -> Run:
    """``GET /exports/orders.<format>`` (signed), whole with every row (NDJSON's trailer
    says so; a workbook's sheets are counted). The server's CPU for it is counted too."""
    export = f"/exports/orders.{contender.format}"
    first_workbook = None
    if contender.format == "xlsx":  # the server's first workbook imports the zip writer
        first_workbook = curl(server.url + context.sign(export, {"limit": "1"})).first_byte
    path = context.sign(export, limit_query(contender, context))
    cpu = server.cpu_s()
    keep = BODY if is_workbook(contender) else None
    transfer = curl(server.url + path, encoding=contender.encoding, keep=keep)
    cpu = server.cpu_s() - cpu
    check_whole(contender, transfer)
    return replace(from_transfer(transfer, server), cpu=cpu, first_workbook=first_workbook)


def check_whole(contender: Contender, transfer: Transfer) -> None:
    """Stop the bench unless the body holds every row: NDJSON's trailer, a workbook's rows
    (in ``BODY``), at least a CSV line per row; the other views' bodies are not checked."""
    if contender.kind == "export" and contender.format == "ndjson":
        trailer = json.loads(transfer.last_line)["_stream"]
        if trailer["status"] != "complete" or trailer["rows"] != contender.rows:
            raise RuntimeError(f"{contender.key}: incomplete export, trailer {trailer}")
    elif is_workbook(contender):
        rows = workbook_rows(BODY)
        BODY.unlink()
        if rows != contender.rows:
            raise RuntimeError(f"{contender.key}: {rows:,} rows in the workbook")
    elif contender.format == "csv" and transfer.lines < contender.rows + 1:
        raise RuntimeError(f"{contender.key}: {transfer.lines:,} CSV lines")


def finished_job(server: Server, status_link: str, rows: int) -> dict[str, Any]:
    """The job's final status; it must have succeeded with every row."""
    status = httpx.get(server.url + status_link, timeout=60).raise_for_status().json()
    if status["status"] != "succeeded" or status["rows"] != rows:
        raise RuntimeError(f"job did not succeed with {rows} rows: {status}")
    return status


def job_run(wall: float, status: dict[str, Any], server: Server) -> Run:
    """A job's run: from the POST to its end; its file's size and lines (rows and trailer)."""
    return Run(wall, None, status["bytes"], status["rows"] + 1, server.peak_rss_mb())


def run_job_immediate(contender: Contender, context: Context, server: Server) -> Run:
    """``POST /exports/orders/jobs`` with ImmediateRunner: the answer comes when it is done."""
    transfer = curl(server.url + context.sign("/exports/orders/jobs", {}), "POST")
    links = json.loads(transfer.tail)["links"]
    return job_run(transfer.wall, finished_job(server, links["self"], contender.rows), server)


def run_job_thread(contender: Contender, context: Context, server: Server) -> Run:
    """``POST /exports/orders/jobs`` with ThreadRunner, then its SSE events until ``done``."""
    started = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=900) as client:
        answer = client.post(context.sign("/exports/orders/jobs", {})).raise_for_status().json()
        with client.stream("GET", answer["links"]["events"]) as events:
            for line in events.raise_for_status().iter_lines():
                if line == "event: done":
                    break
        wall = time.perf_counter() - started
    return job_run(wall, finished_job(server, answer["links"]["self"], contender.rows), server)


RUNNERS: dict[str, Callable[[Contender, Context, Server], Run]] = {
    "view": run_view,
    "export": run_export,
    "job-immediate": run_job_immediate,
    "job-thread": run_job_thread,
}


def measure(contender: Contender, context: Context, base_env: dict[str, str]) -> Run:
    """One run of ``contender``; an HTTP contender in a fresh server of its own."""
    if contender.kind == "psql":
        prewarm(context.database_url)
        return Run(psql_copy(context.database_url, row_limit(contender, context), contender.format))
    with serve(contender.server or "", {**base_env, **contender.env}) as server:
        prewarm(context.database_url)
        run = RUNNERS[contender.kind](contender, context, server)
    shutil.rmtree(MEDIA, ignore_errors=True)  # job files
    return run
