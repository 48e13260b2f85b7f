"""Where the ORM path's time goes, in-process (no HTTP): reading the rows, and
reading and encoding them, for each reader on the bench database::

    python -m bench.profile                      # 1,000,000 rows, every reader
    python -m bench.profile --rows 200000 --engines cursor --cprofile

Wall and CPU seconds of this process (the database's own time is in the
difference), and with ``--cprofile`` the functions that took the most.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from collections.abc import Callable
from typing import Any

from .run import DATABASE_URL

FIELDS = ("id", "customer", "email", "amount", "quantity", "created_at", "paid", "note", "data")


def timed(work: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds ``work()`` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="stream,cursor,keyset")
    parser.add_argument("--cprofile", action="store_true", help="and the top functions")
    args = parser.parse_args(argv)
    os.environ.setdefault("DATABASE_URL", os.environ.get("BENCH_DATABASE_URL", DATABASE_URL))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.conf import settings

    from project.demo.models import Order
    from stream_exports.core.datasets import registry
    from stream_exports.core.formats.ndjson import encoded_batches
    from stream_exports.core.plan import RowPlan
    from stream_exports.core.readers import row_batches

    dataset = registry.get("orders")
    assert dataset is not None
    print(f"{args.rows:,} demo rows, {Order.objects.count():,} in the table")
    print("| reader | read: wall s | read: CPU s | read + encode: wall s | CPU s |")
    print("|---|---:|---:|---:|---:|")
    for engine in args.engines.split(","):
        settings.STREAM_EXPORTS = {"ENGINE": engine, "COPY_FAST_PATH": False}
        plan = RowPlan.for_dataset(dataset, dataset.queryset, FIELDS, None, args.rows)

        def read(plan: RowPlan = plan) -> None:
            for _ in row_batches(plan):
                pass

        def encode(plan: RowPlan = plan) -> None:
            for _ in encoded_batches(plan, FIELDS):
                pass

        read_wall, read_cpu = timed(read)
        wall, cpu = timed(encode)
        print(f"| {engine} | {read_wall:.2f} | {read_cpu:.2f} | {wall:.2f} | {cpu:.2f} |")
        if args.cprofile:
            profile = cProfile.Profile()
            profile.runcall(encode)
            pstats.Stats(profile).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
