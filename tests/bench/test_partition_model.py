"""bench/partition_model.py's arithmetic: what it projects from what, and when it says a
limit is reached or the goal missed."""

from __future__ import annotations

import os
import time
from dataclasses import replace

import pytest

from bench.partition_model import (
    MIB,
    Assumptions,
    Measured,
    backend_cpu_s,
    goal_line,
    project,
    projections,
    report,
)
from bench.report import kept_block

#: 1,000 rows: 4 µs of database CPU and 2 µs of worker CPU a row, 300 bytes read and 50
#: stored a row, uploaded at 50 MB/s.
MEASURED = Measured(
    rows=1_000,
    db_cpu_s=0.004,
    worker_cpu_s=0.002,
    raw_bytes=300_000,
    file_bytes=50_000,
    upload_s=0.001,
    parts=1,
    wall_s=1.0,
)
ASSUMED = Assumptions()


def test_readers_beyond_the_cores_share_them_and_the_slowest_part_decides():
    p = project(MEASURED, ASSUMED, 100_000_000, invocations=32, cores=16)
    # 3,125,000 rows each; 16 cores at 80 % among 32 readers: 0.4 of a core each.
    assert p.db_s == pytest.approx(3_125_000 * 4e-6 / 0.4)  # 31.25
    assert p.worker_s == pytest.approx(6.25)
    assert p.upload_s == pytest.approx(156.25e6 / 50e6)  # 156 MB at 50 MB/s
    assert p.network_s == pytest.approx(30e9 / 1.25e9)  # every row through 10 Gbit/s
    assert p.bound == "database CPU"
    assert p.wall_s == pytest.approx(2.0 + 31.25 + 1.0)
    assert p.parts == 32 * 15  # 156 MB in 10 MiB parts
    assert p.slices == 1 and p.problems == ()


def test_a_reader_uses_one_core_at_most():
    few = project(MEASURED, ASSUMED, 100_000_000, invocations=8, cores=16)
    assert few.db_s == pytest.approx(12_500_000 * 4e-6)  # a whole core each, not 1.6
    assert few.worker_s + few.upload_s == pytest.approx(25.0 + 625e6 / 50e6)  # 37.5
    assert few.bound == "database CPU"
    assert few.wall_s == pytest.approx(2.0 + 50.0 + 1.0)
    busy = replace(MEASURED, worker_cpu_s=0.005)  # 5 µs a row: 62.5 s, more than the reads
    assert project(busy, ASSUMED, 100_000_000, 8, 16).bound == "worker CPU + upload"


def test_the_lower_of_the_measured_and_the_assumed_upload_rates_is_used():
    slow = replace(MEASURED, upload_s=0.005)  # 10 MB/s here
    assert project(slow, ASSUMED, 1_000_000, 4, 8).upload_s == pytest.approx(12.5e6 / 10e6)
    fast = replace(MEASURED, upload_s=0.0001)  # 500 MB/s: the Lambda's 50 MB/s decides
    assert project(fast, ASSUMED, 1_000_000, 4, 8).upload_s == pytest.approx(12.5e6 / 50e6)


def test_a_run_past_lambdas_15_minutes_continues_in_more_invocations():
    slow = replace(MEASURED, worker_cpu_s=1.0)  # 1 ms a row: 1,562 s for 1,562,500 rows
    p = project(slow, ASSUMED, 100_000_000, invocations=64, cores=16)
    assert p.slices == 2  # 840 s a slice (15 min less the margin)
    assert p.wall_s == pytest.approx(2 * 2.0 + p.worker_s + p.upload_s + 1.0)


def test_s3s_limits_are_named_when_reached():
    tiny = project(MEASURED, ASSUMED, 1_000_000, invocations=64, cores=16)
    assert any("below S3's 5 MiB part" in problem for problem in tiny.problems)
    small_parts = replace(ASSUMED, part_size=MIB)
    many = project(MEASURED, small_parts, 1_000_000_000, invocations=16, cores=16)
    assert many.parts > 10_000
    assert any("over S3's 10,000" in problem for problem in many.problems)


def test_the_goal_is_met_or_missed_and_the_table_has_every_configuration():
    table = projections(MEASURED, ASSUMED)
    assert [(p.invocations, p.cores) for p in table] == [
        (16, 8), (32, 8), (64, 8), (16, 16), (32, 16), (64, 16)
    ]  # fmt: skip
    assert goal_line(table).startswith("- met: 100,000,000 rows in 32 Lambda invocations")
    slow = replace(MEASURED, db_cpu_s=0.02)  # 20 µs a row: 156 s at 0.4 of a core
    assert goal_line(projections(slow, ASSUMED)).startswith("- **missed**")
    lines = report(MEASURED, ASSUMED)
    assert any("not documented" in line for line in lines)  # the assumptions are printed
    assert sum(line.startswith("| 32 | 16 |") for line in lines) == 1


def test_a_processs_cpu_is_read_from_proc():
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    assert backend_cpu_s(os.getpid()) == pytest.approx(time.process_time(), abs=0.05)


def test_results_md_keeps_the_models_section_when_rewritten(tmp_path):
    path = tmp_path / "results.md"
    path.write_text(
        "# x\n<!-- model:start -->\n## Model\n\n| a |\n<!-- model:end -->\n## Machine\n"
    )
    block = kept_block(path, "<!-- model:start -->", "<!-- model:end -->")
    assert block == ["<!-- model:start -->", "## Model", "", "| a |", "<!-- model:end -->", ""]
    assert kept_block(tmp_path / "missing.md", "<!-- model:start -->", "<!-- model:end -->") == []
