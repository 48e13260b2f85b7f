"""The results: a markdown table, the issue's goals met or missed, the SSE figures, a plot."""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
import subprocess
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import coldstart, mariadb
from .contenders import (
    ENCODINGS,
    Contender,
    csv_key,
    encoded_key,
    no_audit_key,
    ours_key,
    psql_key,
    xlsx_key,
)

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"
MARIADB_START, MARIADB_END = "<!-- mariadb:start -->", "<!-- mariadb:end -->"
SSE_START, SSE_END = "<!-- sse:start -->", "<!-- sse:end -->"
COLD_START, COLD_END = "<!-- coldstart:start -->", "<!-- coldstart:end -->"
XLSX_START, XLSX_END = "<!-- xlsx:start -->", "<!-- xlsx:end -->"
MODEL_START, MODEL_END = "<!-- model:start -->", "<!-- model:end -->"
RESULTS_MD = HERE / "results.md"
GOAL_ROWS = 1_000_000


def number(value: float | None, spec: str) -> str:
    """``value`` formatted, or an empty cell."""
    return "" if value is None else format(value, spec)


def table(found: list[Contender], anchor: str = "psql") -> list[str]:
    """One row per contender: medians over the runs; ``x anchor`` the ratio to the anchor."""
    lines = [
        f"| contender | server | rows | wall s | rows/s | x {anchor} | first byte ms "
        "| peak RSS MB | body MB | lines |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in found:
        wall, first, size = c.median("wall"), c.median("first_byte"), c.median("bytes")
        lines.append(
            f"| {c.label} | {c.server or c.kind} | {c.rows:,} | {wall:.2f} "
            f"| {c.rows / wall:,.0f} | {number(c.median('ratio'), '.2f')} "
            f"| {number(first and first * 1000, '.0f')} | {number(c.median('rss_mb'), '.0f')} "
            f"| {number(size and size / 1e6, '.1f')} | {number(c.median('lines'), ',.0f')} |"
        )
    return lines


def goal(ok: bool, text: str) -> str:
    """A goal's line: met or missed, with the measured figures."""
    return f"- {'met' if ok else '**missed**'}: {text}"


def paired_ratio(a: Contender, b: Contender) -> float:
    """Median over rounds of a's wall over b's in the same round."""
    return statistics.median(x.wall / y.wall for x, y in zip(a.runs, b.runs, strict=False))


def goals(found: list[Contender], sse: dict[str, Any] | None) -> list[str]:
    """Each goal of issues 7, 16 and 27 on PostgreSQL, met or missed, with the measured
    figure."""
    by = {c.key: c for c in found}
    rows = max(c.rows for c in found)
    small = max(rows // 10, 1)
    out: list[str] = []

    def check(ok: bool, text: str) -> None:
        out.append(goal(ok, text))

    def each(keys: list[str], test: Callable[..., None]) -> None:
        if all(k in by for k in keys):
            test(*(by[k] for k in keys))

    for server in ("gunicorn", "uvicorn"):
        copy, orm = ours_key("COPY", server, rows), ours_key("ORM", server, rows)

        def default_path(c: Contender, server: str = server) -> None:
            ratio = c.median("ratio") or 0.0
            check(ratio <= 1.5, f"{server}, default path within 1.5x psql: {ratio:.2f}x")
            check(
                ratio <= 1.15,
                f"{server}, COPY fast path (the default on PostgreSQL) within 1.15x psql: "
                f"{ratio:.2f}x",
            )

        def orm_path(c: Contender, server: str = server) -> None:
            ratio = c.median("ratio") or 0.0
            check(
                ratio <= 1.5, f"{server}, ORM path within 1.5x psql (issues 16, 27): {ratio:.2f}x"
            )

        def first_byte(c: Contender, path: str, server: str = server) -> None:
            ms = (c.median("first_byte") or 0.0) * 1000
            check(ms < 100, f"{server}, {path} path, first body byte at {rows:,} rows: {ms:.0f} ms")

        def flat(big: Contender, little: Contender, path: str, server: str = server) -> None:
            grown = (big.median("rss_mb") or 0.0) - (little.median("rss_mb") or 0.0)
            check(
                grown <= 30,
                f"{server}, {path} path, peak RSS {little.median('rss_mb'):.0f} MB at "
                f"{small:,} rows, {big.median('rss_mb'):.0f} MB at {rows:,}: {grown:+.1f} MB",
            )

        each([copy], default_path)
        each([orm], orm_path)
        each([copy], lambda c: first_byte(c, "COPY"))
        each([orm], lambda c: first_byte(c, "ORM"))
        each([copy, ours_key("COPY", server, small)], lambda b, s: flat(b, s, "COPY"))
        each([orm, ours_key("ORM", server, small)], lambda b, s: flat(b, s, "ORM"))

        def csv_path(c: Contender, anchor: Contender, server: str = server) -> None:
            ratio = c.median("ratio") or 0.0
            check(
                ratio <= 1.15,
                f"{server}, CSV within 1.15x `psql \\copy` of the same columns as CSV "
                f"(issue 27): {ratio:.2f}x ({c.median('wall'):.2f} s; the anchor "
                f"{anchor.median('wall'):.2f} s)",
            )

        table_csv = csv_key(server, rows)
        each([table_csv, psql_key(rows, "csv")], csv_path)
        each([table_csv], lambda c: first_byte(c, "CSV"))
        each([table_csv, csv_key(server, small)], lambda b, s: flat(b, s, "CSV"))

    def job(job: Contender, live: Contender) -> None:
        ratio = paired_ratio(job, live)
        check(
            ratio <= 1.5,
            f"{job.label} ({job.server}) within 1.5x the live stream on the same server: "
            f"{job.median('wall'):.2f} s vs {live.median('wall'):.2f} s, {ratio:.2f}x",
        )

    each(["job-immediate", ours_key("COPY", "gunicorn", rows)], job)
    each(["job-thread", ours_key("COPY", "uvicorn", rows)], job)

    def audit(on: Contender, off: Contender) -> None:
        ratio = paired_ratio(on, off)
        check(
            ratio <= 1.05,
            f"{on.server}, {on.rows:,} rows, auditing on within 5% of off (issue 17): "
            f"{on.median('wall'):.3f} s vs {off.median('wall'):.3f} s, {ratio:.3f}x",
        )

    for n in (small, rows):
        each([ours_key("COPY", "gunicorn", n), no_audit_key("gunicorn", n)], audit)
    if encoded := compressed(found):
        out.append(
            "- reported: compression side by side (issue 16), gunicorn, "
            + "; ".join(
                f"{c.encoding} {c.median('wall'):.2f} s, {(c.median('bytes') or 0) / 1e6:.0f} MB, "
                f"server CPU {c.median('cpu') or 0:.2f} s"
                for c in encoded
            )
        )
        plain = encoded[0]
        for c, limit in zip(encoded[1:], (1.2, 1.1), strict=True):  # gzip, zstd (ENCODINGS)
            ratio = paired_ratio(c, plain)
            check(
                ratio <= limit,
                f"{c.encoding} within {limit}x identity (issue 27): {c.median('wall'):.2f} s "
                f"against {plain.median('wall'):.2f} s, {ratio:.2f}x",
            )
    out += sse_goals(sse)
    if rows < GOAL_ROWS:
        out.append(f"\nThe goals are set at {GOAL_ROWS:,} rows; this run had {rows:,}.")
    return out


def compressed(found: list[Contender]) -> list[Contender]:
    """The default export at the most rows in each encoding, when all were measured."""
    rows = max(c.rows for c in found)
    by = {c.key: c for c in found}
    keys = [encoded_key(encoding, rows) for encoding in ENCODINGS]
    return [by[k] for k in keys] if all(k in by for k in keys) else []


def compression_section(found: list[Contender]) -> list[str]:
    """identity, gzip and zstd side by side: the same export asked for in each."""
    encoded = compressed(found)
    if not encoded:
        return []
    plain = encoded[0]
    lines = [
        "## Compression (issue 16)",
        "",
        f"The default export of {plain.rows:,} rows under gunicorn, asking for each encoding "
        "(`Accept-Encoding`), medians of the same rounds. Body MB is what was sent; the client "
        "decodes it as it comes (lines counted decoded). Server CPU is the worker's, user and "
        "system, for the request.",
        "",
        "| encoding | wall s | x psql | first byte ms | body MB sent | x identity | server CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in encoded:
        size, first = c.median("bytes") or 0.0, c.median("first_byte") or 0.0
        lines.append(
            f"| {c.encoding} | {c.median('wall'):.2f} | {number(c.median('ratio'), '.2f')} "
            f"| {first * 1000:.0f} | {size / 1e6:.1f} | {size / (plain.median('bytes') or 1):.2f} "
            f"| {number(c.median('cpu'), '.2f')} |"
        )
    return [*lines, ""]


def limits_section(meta: dict[str, Any]) -> list[str]:
    """The whole table read through ``deploy local`` at AWS's real limits, per encoding."""
    through = meta.get("limits")
    if not through:
        return []
    lines = [
        "## Through `deploy local` at AWS's limits (issue 16)",
        "",
        f"The whole table ({meta['rows']:,} rows) through `python -m deploy local` "
        f"({meta.get('limits_date', meta['date'])}): `deploy/run.sh` as Lambda Web Adapter "
        "starts it, behind a proxy that applies Lambda's streaming limits (the first 6 MB "
        "uncapped, then 2 MB/s, 200 MB a response) and API Gateway's (15 minutes); read by "
        "`stream_exports_client.Download`, which resumes a cut download with `after=`. One "
        "run each.",
        "",
        "| encoding | rows | wall s | first line ms | resumes |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in through:
        lines.append(
            f"| {r['encoding']} | {r['rows']:,} | {r['wall_s']:.1f} | "
            f"{r['first_line_ms']:.0f} | {r['resumes']} |"
        )
    return [*lines, ""]


def buffered(found: list[Contender]) -> list[str]:
    """What Django does with a sync generator under ASGI (for contrast with ours)."""
    rows = max(c.rows for c in found)
    small, big = (
        next((c for c in found if c.key == f"asgi-sync-{n}"), None) for n in (rows // 10, rows)
    )
    if not small or not big:
        return []
    return [
        f"A sync generator under uvicorn is buffered whole by Django: peak RSS "
        f"{small.median('rss_mb'):.0f} MB at {small.rows:,} rows, {big.median('rss_mb'):.0f} MB "
        f"at {big.rows:,}; first byte after {(big.median('first_byte') or 0):.1f} s.",
        "",
    ]


#: The side-by-side columns where less is better: key, name, unit, format.
SIDE_BY_SIDE = [
    ("p50_ms", "p50", "ms", ",.0f"),
    ("p95_ms", "p95", "ms", ",.0f"),
    ("rss_per_stream_kb", "RSS per stream", "kB", ",.0f"),
    ("cpu_per_delivery_ms", "server CPU per delivery", "ms", ".3f"),
]


def sse_goals(sse: dict[str, Any] | None) -> list[str]:
    """The SSE load's goal lines (each starts with "SSE"): issue 7's, and issue 16's side by
    side when the run had the other contenders."""
    if not sse:
        return []
    lines = [
        goal(
            sse["connected"] == sse["streams"] and sse["keepalives_min"] >= 1,
            f"SSE: {sse['connected']:,} of {sse['streams']:,} job-status streams held on one "
            f"uvicorn process, each saw >= {sse['keepalives_min']} heartbeats in "
            f"{sse['quiet_s']:.0f} s (HEARTBEAT {sse['heartbeat_s']:g} s)",
        ),
        goal(
            sse["p95_ms"] < 100,
            f"SSE: p95 progress-to-client latency with the Redis channel layer: "
            f"{sse['p95_ms']:,.0f} ms",
        ),
        f"- reported: SSE server RSS per stream: {sse['rss_per_stream_kb']:.0f} kB",
    ]
    if len(sse.get("side_by_side", [])) > 1:
        lines.append(side_by_side_goal(sse["side_by_side"]))
        lines += issue_27_goals(sse["side_by_side"])
    return lines


#: Issue 27's memory goal for a job's event stream (RSS per stream, kB).
STREAM_KB_GOAL = 60


def issue_27_goals(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 27's goals for the streams served by ``JobStreams`` (stream_exports.asgi): at
    most 60 kB per stream, CPU per delivery at or under sse-starlette's, p95 ahead of
    every other contender with every event delivered."""
    ours, others = rows[0], rows[1:]
    anchor = next((o for o in others if o["key"] == "starlette"), None)
    lines = [
        goal(
            ours["rss_per_stream_kb"] <= STREAM_KB_GOAL,
            f"SSE (issue 27): RSS per stream {ours['rss_per_stream_kb']:,.0f} kB "
            f"(goal: at most {STREAM_KB_GOAL} kB)",
        )
    ]
    if anchor is not None:
        lines.append(
            goal(
                ours["cpu_per_delivery_ms"] <= anchor["cpu_per_delivery_ms"],
                f"SSE (issue 27): server CPU per delivery {ours['cpu_per_delivery_ms']:.3f} ms "
                f"(goal: at or under sse-starlette's {anchor['cpu_per_delivery_ms']:.3f} ms)",
            )
        )
    lost = ours["expected"] - ours["delivered"]
    vs = ", ".join(f"{o['label']} {o['p95_ms']:,.0f} ms" for o in others)
    lines.append(
        goal(
            all(ours["p95_ms"] < o["p95_ms"] for o in others) and not lost,
            f"SSE (issue 27): p95 {ours['p95_ms']:,.0f} ms (goal: ahead of {vs}, every event "
            f"delivered); {ours['delivered']:,} of {ours['expected']:,} deliveries",
        )
    )
    return lines


def side_by_side_goal(rows: list[dict[str, Any]]) -> str:
    """Issue 16's goal: ahead of every other contender on every column, every event delivered
    (streams held and events lost cannot beat all and none: there, as good as the best)."""
    ours, others = rows[0], rows[1:]
    behind = [
        f"{name} ({', '.join(o['label'] for o in others if o[key] <= ours[key])})"
        for key, name, _, _ in SIDE_BY_SIDE
        if any(o[key] <= ours[key] for o in others)
    ]
    lost = ours["expected"] - ours["delivered"]
    if ours["held"] < ours["streams"] or any(o["held"] > ours["held"] for o in others):
        behind.append(f"streams held ({ours['held']:,} of {ours['streams']:,})")
    if lost:
        behind.append(f"events lost ({lost:,})")
    figures = "; ".join(
        f"{name} {ours[key]:{spec}} {unit} (vs "
        + ", ".join(f"{o[key]:{spec}}" for o in others)
        + ")"
        for key, name, unit, spec in SIDE_BY_SIDE
    )
    vs = " and ".join(o["label"] for o in others)
    return goal(
        not behind,
        f"SSE side by side (issue 16): ahead of {vs} on every column, every event delivered: "
        f"{figures}; {ours['delivered']:,} of {ours['expected']:,} deliveries"
        + (f"; behind on {', '.join(behind)}" if behind else ""),
    )


def side_by_side_table(rows: list[dict[str, Any]]) -> list[str]:
    """One row per contender of the SSE load: streams, deliveries, latency, memory, CPU."""
    lines = [
        "| contender | server | streams held | events delivered / expected (lost) | p50 ms "
        "| p95 ms | RSS per stream kB | server CPU ms per delivery |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lost = r["expected"] - r["delivered"]
        lines.append(
            f"| {r['label']} {r['version']} | {SERVERS[r['server']]} | {r['held']:,} "
            f"| {r['delivered']:,} / {r['expected']:,} ({lost:,}) | {r['p50_ms']:,.0f} "
            f"| {r['p95_ms']:,.0f} | {r['rss_per_stream_kb']:,.0f} "
            f"| {r['cpu_per_delivery_ms']:.3f} |"
        )
    return lines


SERVERS = {"uvicorn": "uvicorn, Django ASGI", "starlette": "uvicorn, Starlette"}


def side_by_side_section(sse: dict[str, Any]) -> list[str]:
    """The table of the contenders side by side, and how to read it."""
    rows = sse.get("side_by_side", [])
    if len(rows) < 2:
        return []
    events = ", ".join(f"{r['label']} {r['events']}" for r in rows)
    return [
        "",
        f"Side by side, in the same run ({sse.get('date', 'the run above')}): "
        f"{sse['streams']:,} streams of a running job on one ASGI process with Redis, each "
        "contender in a fresh server with a job of its own (the same export, its events "
        "forwarded by `bench/forward.py`: the same kinds, payloads and ids).",
        "",
        *side_by_side_table(rows),
        "",
        f"Events each job wrote while it ran: {events}. Latency is arrival minus `JobEvent.at`; "
        "RSS per stream is (RSS holding the streams - RSS before) / streams; server CPU per "
        "delivery is the server's CPU time from the worker's start to the last `done`, over "
        "the deliveries.",
    ]


def sse_section(sse: dict[str, Any] | None) -> list[str]:
    """The SSE load's figures, as a list, and the side-by-side table."""
    if not sse:
        return ["Not run (`SSE_STREAMS=0`)."]
    return [
        f"- {sse['connected']:,} of {sse['streams']:,} job-status streams (`/exports/jobs/<id>/"
        f"events`) on one uvicorn process with the Redis channel layer, served by `JobStreams` "
        f"(`stream_exports.asgi`); all connected in "
        f"{sse['connect_s']:.1f} s ({sse['refused']} refused)",
        f"- heartbeats: {sse['keepalives_min']} to {sse['keepalives_median']:g} (min, median) per "
        f"stream in a {sse['quiet_s']:.0f} s quiet phase, `HEARTBEAT` {sse['heartbeat_s']:g} s",
        f"- a job run by `manage.py export_worker` in another process wrote {sse['events']} "
        f"events; {sse['delivered']:,} of {sse['expected']:,} deliveries arrived, "
        f"{sse['done']:,} streams got `done`",
        f"- progress-to-client latency (arrival minus `JobEvent.at`, the time the worker wrote "
        f"the event): p50 {sse['p50_ms']:,.0f} ms, p95 {sse['p95_ms']:,.0f} ms, max "
        f"{sse['max_ms']:,.0f} ms",
        f"- fan-out spread (arrival minus the first client's arrival of the same event): p50 "
        f"{sse['spread_p50_ms']:,.0f} ms, p95 {sse['spread_p95_ms']:,.0f} ms, max "
        f"{sse['spread_max_ms']:,.0f} ms",
        f"- from the worker's start to the last `done`: {sse['job_phase_s']:.1f} s, in which the "
        f"server used {sse['server_cpu_s']:.1f} s of CPU and the {sse['streams']:,} clients "
        f"{sse['client_cpu_s']:.1f} s",
        f"- server RSS {sse['rss_before_mb']:.0f} MB before, {sse['rss_held_mb']:.0f} MB holding "
        f"the streams: {sse['rss_per_stream_kb']:.0f} kB per stream; peak "
        f"{sse['peak_rss_mb']:.0f} MB while the job ran",
        *side_by_side_section(sse),
    ]


def sse_block(sse: dict[str, Any] | None) -> list[str]:
    """The SSE section of results.md, between its markers (``write_sse`` replaces it)."""
    return [SSE_START, "## SSE load", "", *sse_section(sse), SSE_END]


def write_sse(sse: dict[str, Any]) -> None:
    """An SSE load alone (``--only sse``): its section of results.md, and its goal lines
    there and in the README's table; the rest stays as the last full run wrote it."""
    results = HERE / "results.md"
    text = results.read_text()
    if SSE_START not in text:  # written before the markers: the section to its next one
        match = re.search(r"^## SSE load\n.*?(?=^<!-- |^## )", text, re.DOTALL | re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no SSE section in {results}")
        text = text.replace(match[0], f"{SSE_START}\n{SSE_END}\n\n")
    head, rest = text.split(SSE_START, 1)
    text = head + "\n".join(sse_block(sse)) + rest.split(SSE_END, 1)[1]
    results.write_text(replace_sse_goals(text, sse_goals(sse)))
    README.write_text(replace_sse_goals(README.read_text(), sse_goals(sse)))
    print("\n".join(sse_block(sse)))


SSE_GOAL = re.compile(r"^- (?:met|\*\*missed\*\*|reported): SSE.*\n", re.MULTILINE)


def replace_sse_goals(text: str, lines: list[str]) -> str:
    """``text`` with its SSE goal lines replaced by ``lines`` (where the first one was)."""
    first = SSE_GOAL.search(text)
    if first is None:
        return text
    kept = SSE_GOAL.sub("", text[first.start() :])
    return text[: first.start()] + "".join(f"{line}\n" for line in lines) + kept


def utc_now() -> str:
    """The time of a run, as the results say it."""
    return f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"


def machine(database_url: str, rows: int, repeat: int, took: float) -> dict[str, Any]:
    """What the run ran on (PostgreSQL's version when ``database_url`` is given)."""
    pg = (
        database_url
        and subprocess.run(
            ["psql", "--no-psqlrc", database_url, "-Atc", "show server_version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    packages = ", ".join(
        f"{name} {version(name)}" for name in ("Django", "gunicorn", "uvicorn", "psycopg")
    )
    return {
        "rows": rows,
        "repeat": repeat,
        "cpus": os.cpu_count(),
        "cpu": model[1] if model else platform.processor(),
        "postgresql": pg,
        "python": platform.python_version(),
        "packages": packages,
        "date": utc_now(),
        "took_min": took / 60,
    }


COLORS = {"psql": "#8c8c8c", "ours": "#3b7dd8", "other": "#d8793b"}


def group(contender: Contender) -> str:
    """For the plot's colours: the anchor, this package, or the others."""
    if contender.kind == "psql":
        return "psql"
    return "ours" if contender.kind in ("export", "job-immediate", "job-thread") else "other"


def plot(found: list[Contender], path: Path, repeat: int) -> None:
    """rows/s and peak RSS per contender, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    names = [f"{c.label} [{c.server or 'psql'}, {c.rows:,}]" for c in found]
    colors = [COLORS[group(c)] for c in found]
    speed = [c.rows / (c.median("wall") or 1) for c in found]
    rss = [c.median("rss_mb") or 0.0 for c in found]
    fig, (left, right) = plt.subplots(1, 2, figsize=(16, 0.38 * len(found) + 1.8), sharey=True)
    bars = left.barh(names, speed, color=colors)
    left.bar_label(bars, labels=[f"{v:,.0f}" for v in speed], padding=3, fontsize=7)
    left.set_xlabel("rows/s (more is better)")
    left.set_xlim(0, max(speed) * 1.25)
    left.xaxis.set_major_formatter("{x:,.0f}")
    left.invert_yaxis()
    bars = right.barh(names, rss, color=colors)
    right.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in rss], padding=3, fontsize=7)
    if max(rss) > 0:
        right.set_xscale("log")
        right.set_xlim(10, max(rss) * 3)
    right.set_xlabel("server peak RSS, MB (log scale; less is better; psql: not measured)")
    legend = {"psql \\copy (anchor)": "psql", "stream_exports": "ours", "others": "other"}
    right.legend(
        handles=[Patch(color=COLORS[g], label=label) for label, g in legend.items()],
        loc="lower right",
        fontsize=8,
    )
    fig.suptitle(f"{max(c.rows for c in found):,} rows, median of {repeat} interleaved runs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def readme_table(
    lines: list[str], start: str = TABLE_START, end: str = TABLE_END, path: Path = README
) -> None:
    """Put ``lines`` between the markers ``start`` and ``end`` in ``path`` (bench/README.md)."""
    text = path.read_text()
    if start not in text:
        return
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{start}\n" + "\n".join(lines) + f"\n{end}{tail}")


def xlsx_goals(xlsx: list[Contender]) -> list[str]:
    """Issue 23's goals: first byte, flat memory and within 2x the CSV export per server; at
    least 3x faster than xlsxwriter; django-import-export beside them."""
    by = {c.key: c for c in xlsx}
    rows = max(c.rows for c in xlsx)
    small = max(rows // 10, 1)
    out: list[str] = []
    for server in ("gunicorn", "uvicorn"):
        big, little = (by.get(xlsx_key("ours", server, n)) for n in (rows, small))
        if big is None:
            continue
        ms = (big.median("first_byte") or 0.0) * 1000
        cold = (big.median("first_workbook") or 0.0) * 1000
        out.append(
            goal(
                ms < 100,
                f"XLSX, {server}, first body byte at {rows:,} rows: {ms:.0f} ms (the server's "
                f"first workbook, which imports the zip writer: {cold:.0f} ms)",
            )
        )
        if little is not None:
            grown = (big.median("rss_mb") or 0.0) - (little.median("rss_mb") or 0.0)
            out.append(
                goal(
                    grown <= 30,
                    f"XLSX, {server}, peak RSS {little.median('rss_mb'):.0f} MB at {small:,} rows, "
                    f"{big.median('rss_mb'):.0f} MB at {rows:,}: {grown:+.1f} MB",
                )
            )
        if (csv := by.get(xlsx_key("csv", server, rows))) is not None:
            ratio = paired_ratio(big, csv)
            out.append(
                goal(
                    ratio <= 2,
                    f"XLSX, {server}, wall within 2x the CSV export's: {big.median('wall'):.2f} s "
                    f"vs {csv.median('wall'):.2f} s, {ratio:.2f}x",
                )
            )
    ours = by.get(xlsx_key("ours", "gunicorn", rows))
    writer = by.get(xlsx_key("xlsxwriter", "gunicorn", rows))
    if ours is not None and writer is not None:
        faster = paired_ratio(writer, ours)
        out.append(
            goal(
                faster >= 3,
                f"XLSX, gunicorn, at least 3x faster than xlsxwriter constant_memory (a "
                f"temporary file, then sent): {ours.median('wall'):.2f} s vs "
                f"{writer.median('wall'):.2f} s, {faster:.2f}x",
            )
        )
    if ours is not None and (other := by.get(xlsx_key("import-export", "gunicorn", rows))):
        out.append(
            f"- reported: django-import-export XLSX, gunicorn: {other.median('wall'):.2f} s, "
            f"peak RSS {other.median('rss_mb'):,.0f} MB (ours: {ours.median('wall'):.2f} s, "
            f"{ours.median('rss_mb'):,.0f} MB), {paired_ratio(other, ours):.1f}x the time"
        )
    if rows < GOAL_ROWS:
        out.append(f"\nThe goals are set at {GOAL_ROWS:,} rows; this run had {rows:,}.")
    return out


def xlsx_section(xlsx: list[Contender], meta: dict[str, Any]) -> list[str]:
    """The XLSX run: its table (the psql anchors, ours at two sizes, our CSV, the others)
    and issue 23's goals."""
    rows = max(c.rows for c in xlsx)
    return [
        f"{rows:,} rows, median of {meta.get('xlsx_repeat', meta['repeat'])} interleaved runs "
        f"({meta.get('xlsx_date', meta['date'])}). This package's XLSX export "
        "(`/exports/orders.xlsx`, deflate level 1) and its CSV export of the same rows, each "
        "in a fresh server (the XLSX one after a first workbook of one row: a process imports "
        "the zip writer when it writes its first); xlsxwriter in `constant_memory` mode "
        "writing the rows to a "
        "temporary file that a view then sends (`bench/views.py`); django-import-export's "
        "XLSX (`export()`, then `XLSX().export_data()`). Every workbook's rows are counted "
        "after its run.",
        "",
        *table(xlsx),
        "",
        *xlsx_goals(xlsx),
    ]


def replace_block(path: Path, start: str, end: str, lines: list[str], before: str) -> None:
    """Put ``lines`` between ``start`` and ``end`` in ``path``; without them, insert the
    block (markers included) before the line ``before``."""
    text = path.read_text()
    if start not in text:
        block = "\n".join([start, *lines, end, ""]) + "\n"
        text = text.replace(f"{before}\n", block + f"{before}\n", 1)
        path.write_text(text)
        return
    readme_table(lines, start, end, path)


def kept_block(path: Path, start: str, end: str) -> list[str]:
    """The lines of ``path`` from ``start`` to ``end`` (markers included, and a blank line
    after), for a section another command measures (bench/partition_model.py); none if
    missing."""
    text = path.read_text() if path.exists() else ""
    if start not in text or end not in text:
        return []
    inside = text.split(start, 1)[1].split(end, 1)[0].strip("\n")
    return [start, *inside.split("\n"), end, ""]


def mariadb_section(maria: list[Contender], meta: dict[str, Any]) -> list[str]:
    """The MariaDB run: its table, and per server the figures to compare."""
    rows = max(c.rows for c in maria)
    small = max(rows // 10, 1)
    by = {c.key: c for c in maria}
    anchor = by[mariadb.anchor_key(rows)]
    lines = [
        f"{rows:,} rows on MariaDB {meta.get('mariadb', '')}, median of {meta['mariadb_repeat']} "
        f"interleaved runs ({meta.get('mariadb_date', meta['date'])}); the MariaDB client's "
        f"JSON takes {anchor.median('wall'):.2f} s, first byte "
        f"{(anchor.median('first_byte') or 0) * 1000:.0f} ms.",
        "",
        *table(maria, "client"),
        "",
    ]
    for server in ("gunicorn", "uvicorn"):
        big, little = (by.get(mariadb.ours_key(server, n)) for n in (rows, small))
        if big is None or little is None:
            continue
        grown = (big.median("rss_mb") or 0.0) - (little.median("rss_mb") or 0.0)
        ratio = big.median("ratio") or 0.0
        lines.append(
            goal(
                ratio <= 1.5,
                f"{server}, within 1.5x the client (issue 27): {big.median('wall'):.2f} s for "
                f"{rows:,} rows, {ratio:.2f}x; first byte "
                f"{(big.median('first_byte') or 0) * 1000:.0f} ms; peak RSS "
                f"{little.median('rss_mb'):.0f} MB at {small:,} rows, "
                f"{big.median('rss_mb'):.0f} MB at {rows:,} ({grown:+.1f} MB)",
            )
        )
        if (csv := by.get(mariadb.csv_key(server, rows))) is not None:
            within = paired_ratio(csv, big)
            lines.append(
                goal(
                    within <= 1.5,
                    f"{server}, CSV within 1.5x NDJSON (issue 27): {csv.median('wall'):.2f} s, "
                    f"{within:.2f}x",
                )
            )
    return lines


def postgres_section(
    found: list[Contender], sse: dict[str, Any] | None, meta: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """The PostgreSQL run for results.md, and its heading, table and goals for the README."""
    rows = meta["rows"]
    anchor = next(c for c in found if c.key == psql_key(rows))
    heading = (
        f"{rows:,} rows, median of {meta['repeat']} interleaved runs ({meta['date']}); "
        f"`psql \\copy` takes {anchor.median('wall'):.2f} s."
    )
    rows_table, goal_lines = table(found), goals(found, sse)
    lines = [
        heading,
        "",
        *rows_table,
        "",
        "`x psql` is the median over rounds of the run's wall time over that of a "
        "`psql \\copy` of the same rows run just before it. First byte and wall are measured "
        "from the start of the client process (curl; psql) to its first body byte and its exit. "
        "Peak RSS is the serving process's `VmHWM` (gunicorn's worker; uvicorn), in a fresh "
        "server for every run; psql's server side is not measured.",
        "",
        *buffered(found),
        *compression_section(found),
        *limits_section(meta),
        "## Goals (issues 7, 16 and 27)",
        "",
        *goal_lines,
        "",
        *sse_block(sse),
        "",
    ]
    return lines, [heading, "", *rows_table, "", *goal_lines]


def write(
    found: list[Contender],
    sse: dict[str, Any] | None,
    meta: dict[str, Any],
    maria: list[Contender] | None = None,
    cold: dict[str, Any] | None = None,
    xlsx: list[Contender] | None = None,
) -> None:
    """bench/results.md, bench/results.png and the tables in bench/README.md. Without
    PostgreSQL figures (a MariaDB or XLSX run alone), only their parts of both files change."""
    results = RESULTS_MD
    block: list[str] = []
    cold_block: list[str] = []
    xlsx_block: list[str] = []
    if xlsx:
        section = xlsx_section(xlsx, meta)
        replace_block(README, XLSX_START, XLSX_END, section, "## Cold start")
        xlsx_block = [XLSX_START, "## XLSX (issue 23)", "", *section, XLSX_END, ""]
    if cold:
        section = coldstart.report(cold)
        readme_table(section, COLD_START, COLD_END)
        cold_block = [COLD_START, "## Cold start (issue 16)", "", *section, COLD_END, ""]
    if maria:
        section = mariadb_section(maria, meta)
        readme_table(section, MARIADB_START, MARIADB_END)
        block = [
            MARIADB_START,
            "## MariaDB",
            "",
            *section,
            "",
            "`x client` is the run's wall time over that of the `mariadb` client's JSON dump "
            "of the same rows (`--quick`, read through a pipe) run just before it.",
            MARIADB_END,
            "",
        ]
    if not found:  # the sections measured, in place
        if block:
            readme_table(block[1:-2], MARIADB_START, MARIADB_END, results)
        if cold_block:
            readme_table(cold_block[1:-2], COLD_START, COLD_END, results)
        if xlsx_block:
            replace_block(results, XLSX_START, XLSX_END, xlsx_block[1:-2], "## Machine")
        print("\n".join(block + cold_block + xlsx_block))
        return
    postgres, readme = postgres_section(found, sse, meta)
    lines = [
        f"# Benchmark results: {meta['rows']:,} rows",
        "",
        *postgres,
        *xlsx_block,
        *block,
        *cold_block,
        *kept_block(results, MODEL_START, MODEL_END),
        "## Machine",
        "",
        f"- {meta['cpus']} CPUs ({meta['cpu']}), shared; PostgreSQL {meta['postgresql']}"
        + (f"; MariaDB {meta['mariadb']}" if meta.get("mariadb") else ""),
        f"- Python {meta['python']}, {meta['packages']}",
        f"- {meta['date']}; the whole run took {meta['took_min']:.0f} min",
        "",
    ]
    results.write_text("\n".join(lines))
    plot(found, HERE / "results.png", meta["repeat"])
    readme_table(readme)
    print("\n".join(lines))
