"""The cost of partitioning (issue 24): one job of N rows on one Celery worker, against the
same job in 2 partitions on 2 Celery workers, on PostgreSQL (COPY, gzip): wall time
from submit to done, and the workers' CPU. Goal: within 1.1x of one worker's wall and
CPU (on this 2-core machine one worker already keeps both cores busy).

    python -m bench.partitions --rows 10000000

Seeds the test project's orders into ``--database-url`` (kept between runs of the same
rows), starts the workers (``tests.celery``, broker ``--broker``), writes
``bench/out/partitions.json`` and the section between the ``partitions`` markers of
``bench/results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results.md"
START, END = "<!-- partitions:start -->", "<!-- partitions:end -->"
GOAL = 1.1


def env_of(args: argparse.Namespace) -> dict[str, str]:
    stream_exports = {"JOB_RUNNER": "stream_exports.runners.CeleryRunner", "PARTITION_ROWS": 0}
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.broker,
        "MEDIA_ROOT": str(OUT / "partitions-media"),
        "STREAM_EXPORTS": json.dumps(stream_exports),
        "DJANGO_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }


def prepare(args: argparse.Namespace) -> None:
    """Create and migrate the database, and seed it unless it holds ``rows`` orders."""
    import django

    os.environ.update(env_of(args))
    name = args.database_url.rsplit("/", 1)[1]
    base = args.database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"], capture_output=True)
    django.setup()
    from django.core.management import call_command

    from tests.testapp.models import Order
    from tests.testapp.seed import seed

    call_command("migrate", verbosity=0)
    if Order.objects.count() != args.rows:
        print(f"seeding {args.rows:,} orders ...", flush=True)
        seed(args.rows)
        call_command("dbshell", "--", "-qc", "VACUUM ANALYZE")  # (fresh statistics)


def workers(stack: ExitStack, count: int, args: argparse.Namespace) -> list[psutil.Process]:
    from tests.servers import run_worker

    OUT.mkdir(exist_ok=True)
    return [
        psutil.Process(
            stack.enter_context(
                run_worker("celery", env_of(args), OUT / f"partitions-worker-{n}.log")
            ).pid
        )
        for n in range(count)
    ]


def cpu(processes: list[psutil.Process]) -> float:
    """User and system seconds of ``processes`` and their pools' processes."""
    total = 0.0
    for process in processes:
        for each in [process, *process.children(recursive=True)]:
            times = each.cpu_times()
            total += times.user + times.system
    return total


def run_once(count: int, args: argparse.Namespace) -> dict[str, Any]:
    """One job of every row in ``count`` partitions on ``count`` workers."""
    from django.contrib.auth.models import User

    from stream_exports.core.datasets import registry
    from stream_exports.jobs.lifecycle import create_job
    from stream_exports.models import ExportJob
    from stream_exports.runners import get_runner

    owner, _ = User.objects.update_or_create(
        username="bench-partitions", defaults={"is_superuser": True, "is_staff": True}
    )
    with ExitStack() as stack:
        started = workers(stack, count, args)
        before = cpu(started)
        job = create_job(registry.get("orders"), {}, owner, partitions=count, notify=False)
        began = time.monotonic()
        get_runner().submit(str(job.pk))
        while (job := ExportJob.objects.get(pk=job.pk)).status not in ("succeeded", "failed"):
            time.sleep(0.1)
        wall = time.monotonic() - began
        used = cpu(started) - before
    assert job.status == "succeeded", job.error
    size = job.file.size
    job.file.delete(save=False)
    return {"partitions": count, "rows": job.rows, "wall": wall, "cpu": used, "bytes": size}


def section(one: dict[str, Any], two: dict[str, Any], rows: int) -> list[str]:
    wall, cpu_ratio = two["wall"] / one["wall"], two["cpu"] / one["cpu"]
    ok = wall <= GOAL and cpu_ratio <= GOAL
    lines = [
        "## Partitioned jobs (issue 24)",
        "",
        f"{rows:,} rows on PostgreSQL (COPY, gzip), Celery workers on this machine's 2 cores "
        "(`python -m bench.partitions`):",
        "",
        "| run | wall s | worker CPU s | file MB |",
        "|---|---:|---:|---:|",
    ]
    for name, run in (("1 worker, 1 partition", one), ("2 workers, 2 partitions", two)):
        lines.append(
            f"| {name} | {run['wall']:.1f} | {run['cpu']:.1f} | {run['bytes'] / 1e6:.0f} |"
        )
    lines += [
        "",
        f"- {'met' if ok else '**missed**'}: partitioned within {GOAL}x of one worker: "
        f"wall {wall:.2f}x, CPU {cpu_ratio:.2f}x",
    ]
    return lines


def write(lines: list[str]) -> None:
    text = RESULTS.read_text()
    block = f"{START}\n" + "\n".join(lines) + f"\n{END}"
    if START in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/se_bench_partitions"
    )
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    prepare(args)
    one, two = run_once(1, args), run_once(2, args)
    OUT.mkdir(exist_ok=True)
    (OUT / "partitions.json").write_text(json.dumps({"one": one, "two": two}, indent=2))
    lines = section(one, two, args.rows)
    write(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
