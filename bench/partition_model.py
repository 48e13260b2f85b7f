"""``python -m bench.partition_model``: a partitioned job's wall time beyond this machine.

What one job costs here is measured (``measure``): a job of ``--rows`` rows (200,000) of
the bench table run in this process on the single-job path (COPY, gzip, a multipart
upload to moto's S3 server on loopback), with the database backend's CPU read from its
``/proc/<pid>/stat``, this process's CPU, the bytes before and after gzip and the time
each part took to upload. ``project`` spreads 100,000,000 rows over P Lambda invocations
against a database of C cores under the assumptions (``Assumptions``: S3's and Lambda's
documented limits, and what is not documented, said so). It prints its inputs, its
assumptions and the table; ``--write`` puts the table into bench/results.md and
bench/README.md. ``--inputs FILE`` projects from figures measured before (the JSON it
saves to bench/out/model.json) without measuring.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .servers import OUT

MIB = 2**20
#: Where ``measure`` keeps its figures (``--inputs`` reads them back).
SAVED = OUT / "model.json"
#: The goal (issue 24): under this many seconds for GOAL_AT = (invocations, cores).
GOAL_S, GOAL_AT = 90.0, (32, 16)
ROWS = 100_000_000
#: The job measured here.
MEASURED_ROWS = 200_000
INVOCATIONS = (16, 32, 64)
CORES = (8, 16)


@dataclass(frozen=True)
class Measured:
    """One job of ``rows`` rows on this machine, single path (COPY, gzip, S3 multipart)."""

    rows: int
    db_cpu_s: float  #: the reading backend's CPU (user + system), from /proc
    worker_cpu_s: float  #: the job process's CPU: read, gzip, upload (boto3)
    raw_bytes: int  #: NDJSON as the database sent it
    file_bytes: int  #: the gzipped file
    upload_s: float  #: wall time inside the parts' uploads
    parts: int
    wall_s: float  #: the job's wall time here (for reference)

    @property
    def db_cpu_per_row(self) -> float:
        return self.db_cpu_s / self.rows

    @property
    def worker_cpu_per_row(self) -> float:
        return self.worker_cpu_s / self.rows

    @property
    def upload_mb_s(self) -> float:
        """One part upload's rate here (to moto on loopback: moto's speed, not S3's)."""
        return self.file_bytes / 1e6 / self.upload_s


@dataclass(frozen=True)
class Assumptions:
    """What the projection takes as given; each with where it comes from."""

    part_min: int = 5 * MIB  #: S3: a part but the last is 5 MiB at least (documented)
    part_max: int = 5 * 2**30  #: S3: 5 GiB at most (documented)
    max_parts: int = 10_000  #: S3: parts per upload (documented)
    part_size: int = 10 * MIB  #: what a job sends per part (jobs/files.py: PART)
    puts_per_s: float = 3_500  #: S3: PUTs a second per prefix (documented, "at least")
    lambda_timeout_s: float = 900  #: Lambda: 15 minutes per invocation (documented)
    slice_margin_s: float = 60  #: JOB_SLICE_MARGIN: a slice ends this long before it
    lambda_concurrency: int = 1_000  #: Lambda: concurrent executions per Region (default quota)
    #: A Lambda vCPU against one core here (1,769 MB of memory is one vCPU, documented; the
    #: speed of that vCPU is not): assumed equal.
    lambda_cpu_speed: float = 1.0
    #: A Lambda's network to S3: not documented by AWS; assumed 50 MB/s per invocation.
    lambda_network_mb_s: float = 50.0
    #: The database's cores as readers share them: a reader (one backend) uses one core at
    #: most; more readers than cores share them; assumed 80 % of linear (memory bandwidth,
    #: buffer mapping locks).
    db_scaling: float = 0.8
    #: The database's network out: assumed 10 Gbit/s on both sizes (instance dependent).
    db_network_mb_s: float = 1_250.0
    #: Before the first row: the invocations' cold start and the coordinator's ranges from
    #: the planner's statistics (assumed; bench's cold start section has ~0.5 s here).
    startup_s: float = 2.0
    #: After the last part: CompleteMultipartUpload of every part (assumed).
    complete_s: float = 1.0
    #: Not a limit here: API Gateway's 2 MB/s after a streamed response's first 10 MB
    #: (documented) applies to responses, not to jobs that write to S3.
    notes: tuple[str, ...] = field(
        default=(
            "API Gateway's streaming limit (2 MB/s after the first 10 MB) is a response's; "
            "jobs write to S3 and are not under it",
            "an invocation reads and encodes at once (the database makes rows while the "
            "worker gzips them: the socket's buffers overlap them); a part's upload is not "
            "overlapped (S3Sink sends it in the job's thread)",
        )
    )


@dataclass(frozen=True)
class Projection:
    """One row of the table: ``rows`` in ``invocations`` against ``cores`` database cores."""

    invocations: int
    cores: int
    db_s: float  #: an invocation's reads, the database's cores shared
    worker_s: float  #: an invocation's CPU
    upload_s: float  #: an invocation's part uploads
    network_s: float  #: every row through the database's network
    slices: int  #: runs per invocation (the 15-minute limit)
    wall_s: float
    parts: int
    part_puts_per_s: float
    problems: tuple[str, ...]

    @property
    def bound(self) -> str:
        """What the invocation's time is spent waiting for most."""
        times = {
            "database CPU": self.db_s,
            "worker CPU + upload": self.worker_s + self.upload_s,
            "database network": self.network_s,
        }
        return max(times, key=times.__getitem__)


def project(m: Measured, a: Assumptions, rows: int, invocations: int, cores: int) -> Projection:
    """``rows`` split evenly over ``invocations`` against a database of ``cores``."""
    per = rows / invocations
    share = min(1.0, cores * a.db_scaling / invocations)  # of a core, per reader
    db = per * m.db_cpu_per_row / share
    worker = per * m.worker_cpu_per_row / a.lambda_cpu_speed
    piece = per * m.file_bytes / m.rows  # an invocation's gzipped bytes
    upload = piece / 1e6 / min(m.upload_mb_s, a.lambda_network_mb_s)
    network = rows * m.raw_bytes / m.rows / 1e6 / a.db_network_mb_s
    run = max(db, worker + upload, network)
    slices = max(1, math.ceil(run / (a.lambda_timeout_s - a.slice_margin_s)))
    wall = a.startup_s * slices + run + a.complete_s
    parts = invocations * max(1, math.ceil(piece / a.part_size))
    problems = []
    if piece < a.part_min:
        problems.append(f"an invocation's piece ({piece / MIB:.1f} MiB) is below S3's 5 MiB part")
    if parts > a.max_parts:
        problems.append(f"{parts:,} parts: over S3's {a.max_parts:,}")
    if invocations > a.lambda_concurrency:
        problems.append(f"{invocations} invocations: over Lambda's concurrency quota")
    puts = parts / run
    if puts > a.puts_per_s:
        problems.append(f"{puts:,.0f} PUT/s: over S3's {a.puts_per_s:,.0f} per prefix")
    return Projection(
        invocations, cores, db, worker, upload, network, slices, wall, parts, puts, tuple(problems)
    )


def projections(m: Measured, a: Assumptions, rows: int = ROWS) -> list[Projection]:
    return [project(m, a, rows, n, c) for c in CORES for n in INVOCATIONS]


def goal_line(table: list[Projection]) -> str:
    """Met or missed: the goal's configuration under GOAL_S."""
    invocations, cores = GOAL_AT
    at = next(p for p in table if (p.invocations, p.cores) == GOAL_AT)
    verdict = "met" if at.wall_s < GOAL_S and not at.problems else "**missed**"
    return (
        f"- {verdict}: {ROWS:,} rows in {invocations} Lambda invocations against "
        f"{cores} database cores projected at {at.wall_s:.0f} s (goal: under {GOAL_S:.0f} s; "
        f"bound by {at.bound})"
    )


def report(m: Measured, a: Assumptions, rows: int = ROWS) -> list[str]:
    """Inputs, assumptions, the table and the goal, as Markdown lines."""
    table = projections(m, a, rows)
    lines = [
        f"Measured here: one job of {m.rows:,} rows (COPY, gzip, a multipart upload to moto "
        f"on loopback) took {m.wall_s:.2f} s; per row, database CPU "
        f"{m.db_cpu_per_row * 1e6:.2f} µs (its backend's /proc stat), worker CPU "
        f"{m.worker_cpu_per_row * 1e6:.2f} µs (the job's process), {m.raw_bytes / m.rows:.0f} "
        f"bytes read and {m.file_bytes / m.rows:.1f} stored (gzip), uploaded at "
        f"{m.upload_mb_s:.0f} MB/s ({m.parts} part{'s' if m.parts != 1 else ''}).",
        "",
        "Assumptions:",
        "",
        f"- S3 (documented): parts of {a.part_min // MIB} MiB to {a.part_max // 2**30} GiB, "
        f"{a.max_parts:,} per upload, {a.puts_per_s:,.0f} PUT/s per prefix; a job sends "
        f"{a.part_size // MIB} MiB parts",
        f"- Lambda (documented): {a.lambda_timeout_s / 60:.0f} min per invocation (a job "
        f"continues in a next one {a.slice_margin_s:.0f} s before), {a.lambda_concurrency:,} "
        "concurrent executions; one vCPU at 1,769 MB",
        f"- assumed: a Lambda vCPU does {a.lambda_cpu_speed:.1f}x a core here; a Lambda "
        f"uploads at {a.lambda_network_mb_s:.0f} MB/s (not documented), or at the rate "
        "measured here if lower",
        f"- assumed: readers share the database's cores at {a.db_scaling:.0%} of linear, one "
        f"core per reader at most; its network sends {a.db_network_mb_s:,.0f} MB/s",
        f"- assumed: {a.startup_s:.1f} s before the first row (cold starts, the ranges), "
        f"{a.complete_s:.1f} s to complete the upload",
        *(f"- {note}" for note in a.notes),
        "",
        f"{rows:,} rows, evenly split:",
        "",
        "| invocations | DB cores | DB CPU s | worker CPU s | upload s | DB network s "
        "| parts | wall s | bound by | problems |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        *(
            f"| {p.invocations} | {p.cores} | {p.db_s:.1f} | {p.worker_s:.1f} | "
            f"{p.upload_s:.1f} | {p.network_s:.1f} | {p.parts:,} | {p.wall_s:.0f} | {p.bound} "
            f"| {'; '.join(p.problems) or 'none'} |"
            for p in table
        ),
        "",
        goal_line(table),
    ]
    return lines


# -- measuring ---------------------------------------------------------------------------


def backend_cpu_s(pid: int) -> float:
    """A local process's CPU seconds (user + system) from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(database_url: str, rows: int) -> Measured:
    """Run one job of ``rows`` rows of the bench table here, its file on moto's S3."""
    from tests.s3 import moto_server, new_bucket, storages_setting

    from .measure import prewarm
    from .run import prepare_database
    from .servers import server_env

    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.update(server_env(database_url))
    user = prepare_database(database_url, max(rows, existing_rows(database_url)))
    from django.db import connection
    from django.test import override_settings

    from stream_exports.core.datasets import registry
    from stream_exports.jobs import files
    from stream_exports.jobs.lifecycle import create_job
    from stream_exports.jobs.models import ExportJob, JobStatus
    from stream_exports.jobs.worker import run_job

    uploads = {"s": 0.0, "parts": 0}
    send = files.S3Sink._send

    def timed_send(sink: files.S3Sink) -> None:
        began = time.perf_counter()
        send(sink)
        uploads["s"] += time.perf_counter() - began
        uploads["parts"] += 1

    jobs = {
        "JOB_RUNNER": "stream_exports.runners.WorkerRunner",  # (queued only: run here)
        "JOB_STORAGE": "jobs",
        "JOB_COUNT_TOTAL": False,  # (a partitioned job sizes its ranges from statistics)
    }
    with moto_server(OUT / "moto.log") as endpoint:
        storages = storages_setting(endpoint, new_bucket(endpoint))
        prewarm(database_url)
        files.S3Sink._send = timed_send  # type: ignore[method-assign]
        try:
            with override_settings(STREAM_EXPORTS=jobs, STORAGES=storages):
                job = create_job(registry.get("orders"), {"limit": str(rows)}, user)
                pid = backend_pid(connection)
                db_before, cpu_before = backend_cpu_s(pid), time.process_time()
                began = time.perf_counter()
                run_job(job.pk)
                wall = time.perf_counter() - began
                cpu, db = time.process_time() - cpu_before, backend_cpu_s(pid) - db_before
                assert backend_pid(connection) == pid, "the job read on another connection"
                job = ExportJob.objects.get(pk=job.pk)
                assert job.status == JobStatus.SUCCEEDED and job.rows == rows, job.error
                size = job.file.size
                job.file.delete(save=False)
                job.delete()
        finally:
            files.S3Sink._send = send  # type: ignore[method-assign]
    return Measured(rows, db, cpu, job.bytes, size, uploads["s"], uploads["parts"], wall)


def backend_pid(connection: Any) -> int:
    """The PostgreSQL backend of ``connection`` (a Django connection)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def existing_rows(database_url: str) -> int:
    """The bench table's rows (0 without the database or the table): a measurement reads
    some of them and never reseeds a larger table."""
    import psycopg

    try:
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM demo_order").fetchone()[0])
    except psycopg.Error:
        return 0


def write(lines: list[str]) -> None:
    """The model's section into bench/results.md (before its machine) and bench/README.md."""
    from .report import MODEL_END, MODEL_START, README, RESULTS_MD, replace_block

    section = ["## Partitioned jobs: the model (issue 24)", "", *lines]
    replace_block(RESULTS_MD, MODEL_START, MODEL_END, section, "## Machine")
    replace_block(README, MODEL_START, MODEL_END, lines, "## Cold start")


def main(argv: list[str] | None = None) -> int:
    from .run import DATABASE_URL

    parser = argparse.ArgumentParser(
        prog="python -m bench.partition_model", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=MEASURED_ROWS, help="rows of the job measured")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DATABASE_URL)
    )
    parser.add_argument("--inputs", type=Path, help="figures measured before (JSON)")
    parser.add_argument("--write", action="store_true", help="into results.md and README.md")
    args = parser.parse_args(argv)
    if args.inputs:
        measured = Measured(**json.loads(args.inputs.read_text()))
    else:
        measured = measure_and_save(args.database_url, args.rows)
    lines = report(measured, Assumptions())
    print("\n".join(lines))
    if args.write:
        write(lines)
    return 0


def measure_and_save(database_url: str, rows: int) -> Measured:
    """``measure``, its figures kept in bench/out/model.json (for ``--inputs``)."""
    measured = measure(database_url, rows)
    SAVED.write_text(json.dumps(asdict(measured), indent=1))
    return measured


if __name__ == "__main__":
    raise SystemExit(main())
