"""``make bench`` / ``python -m bench``: every contender on the same PostgreSQL table.

Options (command line, or the environment): ``--rows`` / ``ROWS`` (1,000,000),
``--repeat`` / ``REPEAT`` (3), ``--skip-slow`` / ``SKIP_SLOW=1`` (leave out the
non-streaming view and django-import-export), ``--sse-streams`` / ``SSE_STREAMS``
(1,000; 0 skips the SSE load), ``BENCH_DATABASE_URL``, ``REDIS_URL``, and
``--mariadb-url`` / ``BENCH_MARIADB_URL`` (the MariaDB section: none unless given;
``--only mariadb`` runs it alone; ``--only sse`` the SSE load alone), ``--cold-starts`` /
``COLD_STARTS`` (10 per target; 0 skips the cold start), ``--cold-baseline`` /
``COLD_BASELINE`` (the commit it is compared with) and ``--no-cold-packages`` /
``COLD_PACKAGES=0`` (``--only coldstart`` runs it alone), ``--no-limits`` / ``LIMITS=0``
(skip the whole table through ``deploy local`` at AWS's limits; ``--only limits`` runs
it alone); ``--only xlsx`` runs the XLSX section alone (``SKIP_SLOW=1`` leaves
django-import-export out of it); ``--only model`` the partitioned jobs' model alone
(bench/partition_model.py: one job of 200,000 rows measured, 100,000,000 projected).
Writes bench/results.md, bench/results.png, the table in bench/README.md, and
the raw figures in bench/out/results.json (``--report-only`` redraws from those).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from . import coldstart, limits, mariadb, partition_model
from .contenders import (
    Contender,
    Context,
    Run,
    anchor_of,
    contenders,
    measure,
    psql_key,
    row_limit,
    xlsx_contenders,
)
from .measure import psql_counted
from .servers import OUT, ROOT, server_env

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/se_bench"
REDIS_URL = "redis://127.0.0.1:6379/0"
RESULTS = OUT / "results.json"


def options(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with defaults from the environment."""
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=int(env("ROWS", 1_000_000)))
    parser.add_argument("--repeat", type=int, default=int(env("REPEAT", 3)))
    parser.add_argument("--skip-slow", action="store_true", default=env("SKIP_SLOW") == "1")
    parser.add_argument("--sse-streams", type=int, default=int(env("SSE_STREAMS", 1000)))
    parser.add_argument(
        "--only",
        default="",
        help="run only the contenders whose key has this; sse: the SSE load alone",
    )
    parser.add_argument("--report-only", action="store_true", help="redraw from results.json")
    parser.add_argument(
        "--no-limits",
        dest="limits",
        action="store_false",
        default=env("LIMITS") != "0",
        help="skip the export through deploy local at AWS's limits",
    )
    parser.add_argument("--database-url", default=env("BENCH_DATABASE_URL", DATABASE_URL))
    parser.add_argument("--redis-url", default=env("REDIS_URL", REDIS_URL))
    parser.add_argument("--mariadb-url", default=env("BENCH_MARIADB_URL", ""))
    parser.add_argument("--cold-starts", type=int, default=int(env("COLD_STARTS", 10)))
    parser.add_argument("--cold-baseline", default=env("COLD_BASELINE", coldstart.BASELINE))
    parser.add_argument(
        "--no-cold-packages", action="store_true", default=env("COLD_PACKAGES") == "0"
    )
    return parser.parse_args(argv)


def manage(*args: str) -> None:
    """``manage.py *args`` with this interpreter, in the bench environment."""
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, check=True)


def create_database(database_url: str) -> None:
    """Create the bench database unless it exists (and touch no other)."""
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare_database(database_url: str, rows: int) -> Any:
    """Create, migrate, seed (unless it holds exactly ``rows`` orders); return the bench user,
    who may view and export orders."""
    create_database(database_url)
    manage("migrate", "--noinput", "--verbosity", "0")
    import django

    django.setup()
    from django.contrib.auth.models import Permission, User
    from django.db import connection

    from project.demo.models import Order
    from stream_exports.models import ExportJob

    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    if Order.objects.count() != rows:
        manage("seed_demo", "--rows", str(rows), "--no-user")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE demo_order")
    ExportJob.objects.all().delete()  # earlier runs' jobs: a worker takes the oldest first
    user, _ = User.objects.get_or_create(username="bench", defaults={"is_staff": True})
    # (the demo's EXPORT_PERMISSION is "export": orders take their own permission)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_order", "export_order"])
    )
    return user


def signer(user: Any) -> Callable[[str, dict[str, str]], str]:
    """``(path, params) -> signed "path?query"`` acting as ``user``."""
    from stream_exports.links.signing import sign_url

    return lambda path, params: sign_url(path, user, params, expires=24 * 3600)


def calibrate(found: list[Contender], context: Context) -> dict[str, Run]:
    """Read each anchor once through a pipe: psql's bytes and lines (timed runs go to
    /dev/null)."""
    counted = {}
    for contender in found:
        if contender.kind == "psql":
            limit = row_limit(contender, context)
            transfer = psql_counted(context.database_url, limit, contender.format)
            counted[contender.key] = Run(transfer.wall, None, transfer.bytes, transfer.lines)
    return counted


def describe(run: Run) -> str:
    """One run, for the progress output."""
    parts = [f"wall {run.wall:.2f} s"]
    if run.ratio is not None:
        parts.append(f"{run.ratio:.2f}x psql")
    if run.first_byte is not None:
        parts.append(f"first byte {run.first_byte * 1000:.0f} ms")
    if run.rss_mb is not None:
        parts.append(f"peak RSS {run.rss_mb:.0f} MB")
    if run.bytes is not None:
        parts.append(f"{run.bytes / 1e6:.1f} MB in {run.lines:,} lines")
    return ", ".join(parts)


def measure_all(found: list[Contender], context: Context, repeat: int) -> None:
    """REPEAT rounds, each running every contender once, right after a psql run at the same
    rows: its ratio to psql is taken under the same load, so the machine's noise cancels."""
    env = server_env(context.database_url)
    counted = calibrate(found, context)
    anchors = {(c.rows, c.format): c for c in found if c.kind == "psql"}

    def anchor_run(anchor: Contender) -> Run:
        run = measure(anchor, context, env)
        run.ratio, run.bytes, run.lines = 1.0, counted[anchor.key].bytes, counted[anchor.key].lines
        anchor.runs.append(run)
        return run

    for round_ in range(repeat):
        for contender in found:
            print(f"[{round_ + 1}/{repeat}] {contender.key}", flush=True)
            if contender.kind == "psql":
                run = anchor_run(contender)
            else:
                paired = anchor_run(anchor_of(contender, anchors))
                run = measure(contender, context, env)
                run.ratio = run.wall / paired.wall
                contender.runs.append(run)
            print(f"    {describe(run)}", flush=True)


def save(
    found: list[Contender],
    sse: dict[str, Any] | None,
    meta: dict[str, Any],
    maria: list[Contender],
    cold: dict[str, Any] | None,
    xlsx: list[Contender] | None = None,
) -> None:
    """The raw figures, for ``--report-only``."""
    OUT.mkdir(parents=True, exist_ok=True)
    data = {
        "meta": meta,
        "contenders": [c.as_dict() for c in found],
        "sse": sse,
        "mariadb": [c.as_dict() for c in maria],
        "coldstart": cold,
        "xlsx": [c.as_dict() for c in xlsx or []],
    }
    RESULTS.write_text(json.dumps(data, indent=1))


def load() -> tuple[
    list[Contender], dict[str, Any] | None, dict[str, Any], list[Contender], dict[str, Any] | None
]:
    """The figures ``save`` wrote."""
    data = json.loads(RESULTS.read_text())
    found = [Contender.from_dict(c) for c in data["contenders"]]
    maria = [Contender.from_dict(c) for c in data.get("mariadb") or []]
    return found, data["sse"], data["meta"], maria, data.get("coldstart")


def load_xlsx() -> list[Contender]:
    """The XLSX section's figures ``save`` wrote last (none before a run measured them)."""
    if not RESULTS.exists():
        return []
    return [Contender.from_dict(c) for c in json.loads(RESULTS.read_text()).get("xlsx") or []]


#: The keys of ``meta`` that belong to a section measured on its own.
SECTION_META = ("mariadb", "xlsx")


def raise_fd_limit() -> None:
    """As many open files as allowed (servers inherit it): a stream is a socket."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    """Prepare, measure every contender REPEAT times, hold the SSE streams, report."""
    args = options(argv)
    os.environ.update(server_env(args.database_url))
    os.environ.pop("REDIS_URL", None)  # only the SSE load uses the channel layer
    from . import report

    if args.report_only:
        report.write(*load(), load_xlsx())
        return 0
    raise_fd_limit()
    if args.only == "sse":
        return sse_alone(args)
    started = time.time()
    found = chosen(contenders(args.rows), args)  # (none: --only picked another section)
    sse = None
    if found:
        user = prepare_database(args.database_url, args.rows)
        context = Context(args.database_url, args.rows, signer(user), user.get_username())
        measure_all(found, context, args.repeat)
        if args.sse_streams:
            from .sse import sse_load

            sse = sse_load(args.sse_streams, args.redis_url, context)
    through = measure_limits(args) if args.limits and args.only in ("", "limits") else None
    maria = measure_mariadb(args) if args.mariadb_url else []
    xlsx = measure_xlsx(args) if args.only in ("", "xlsx") else []
    cold = measure_coldstart(args) if args.cold_starts and args.only in "coldstart" else None
    if args.only in ("", "model"):
        measure_model(args)
    if cold is None and RESULTS.exists():
        cold = load()[4]  # not measured this time: the last run's
    took = time.time() - started
    meta = report.machine(args.database_url if found else "", args.rows, args.repeat, took)
    if sse:
        sse["date"] = meta["date"]
    if maria:
        meta["mariadb"] = mariadb.version(args.mariadb_url)
        meta["mariadb_repeat"], meta["mariadb_date"] = args.repeat, meta["date"]
    if xlsx:
        meta["xlsx_repeat"], meta["xlsx_date"] = args.repeat, meta["date"]
    measured = [name for name, section in zip(SECTION_META, (maria, xlsx), strict=True) if section]
    if not found and RESULTS.exists():  # a section alone: next to the last PostgreSQL run
        found, sse, last, last_maria, _ = load()
        meta = {**last, **{k: v for k, v in meta.items() if k.startswith(tuple(measured))}}
        maria = maria or last_maria
    elif RESULTS.exists():  # a section not measured this time: the last run's
        _, _, last, last_maria, _ = load()
        maria = maria or last_maria
        kept = tuple(name for name in SECTION_META if name not in measured)
        meta.update({k: v for k, v in last.items() if kept and k.startswith(kept)})
    if through is not None:
        meta["limits"], meta["limits_date"] = through, report.utc_now()
    xlsx = xlsx or load_xlsx()
    save(found, sse, meta, maria, cold, xlsx)
    report.write(found, sse, meta, maria, cold, xlsx)
    return 0


def chosen(found: list[Contender], args: argparse.Namespace) -> list[Contender]:
    """The contenders ``--only`` and ``--skip-slow`` leave, the anchors they are paired with
    and ``row_to_json``'s (the report's heading); none if they leave none."""
    picked = [
        c
        for c in found
        if c.kind != "psql" and args.only in c.key and not (c.slow and args.skip_slow)
    ]
    anchors = {(c.rows, c.format): c for c in found if c.kind == "psql"}
    paired = {anchor_of(c, anchors).key for c in picked}
    kept = [c for c in found if c in picked or c.key in paired or c.key == psql_key(c.rows)]
    return kept if picked else []


def sse_alone(args: argparse.Namespace) -> int:
    """``--only sse``: the SSE load alone; its part of the report, the rest as it was."""
    from . import report
    from .sse import sse_load

    user = prepare_database(args.database_url, args.rows)
    context = Context(args.database_url, args.rows, signer(user), user.get_username())
    sse = {**sse_load(args.sse_streams, args.redis_url, context), "date": report.utc_now()}
    if RESULTS.exists():
        found, _, meta, maria, cold = load()
        save(found, sse, meta, maria, cold, load_xlsx())
    report.write_sse(sse)
    return 0


def measure_xlsx(args: argparse.Namespace) -> list[Contender]:
    """The XLSX section (bench/README.md): its contenders and their psql anchors, each
    measured REPEAT times, in rounds."""
    found = [c for c in xlsx_contenders(args.rows) if not (c.slow and args.skip_slow)]
    user = prepare_database(args.database_url, args.rows)
    context = Context(args.database_url, args.rows, signer(user), user.get_username())
    measure_all(found, context, args.repeat)
    return found


def measure_mariadb(args: argparse.Namespace) -> list[Contender]:
    """The MariaDB section: its contenders, each measured REPEAT times."""
    found = [c for c in mariadb.contenders(args.rows) if c.kind == "mariadb" or args.only in c.key]
    mariadb.prepare(args.mariadb_url, args.rows)
    sign = mariadb.signer(args.mariadb_url, args.rows)
    context = Context(args.mariadb_url, args.rows, sign, "bench")
    mariadb.measure_all(found, context, args.repeat)
    return found


def measure_limits(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The whole table through ``deploy local`` at AWS's limits, in each encoding."""
    user = prepare_database(args.database_url, args.rows)
    return limits.section(signer(user))


def measure_model(args: argparse.Namespace) -> None:
    """The partitioned jobs' model (bench/partition_model.py): one job measured here (at
    most its 200,000 rows of the table), projected; its section written at once."""
    rows = min(partition_model.MEASURED_ROWS, args.rows)
    measured = partition_model.measure_and_save(args.database_url, rows)
    lines = partition_model.report(measured, partition_model.Assumptions())
    print("\n".join(lines), flush=True)
    partition_model.write(lines)


def measure_coldstart(args: argparse.Namespace) -> dict[str, Any]:
    """The cold-start section (bench/coldstart.py): run.sh's starts, on the bench database."""
    user = prepare_database(args.database_url, args.rows)
    return coldstart.section(
        args.database_url,
        signer(user),
        args.cold_starts,
        args.cold_baseline,
        packages=not args.no_cold_packages,
    )
