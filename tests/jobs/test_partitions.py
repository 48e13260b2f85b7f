"""Partitioned jobs in this process: the same file as an unpartitioned job, progress over
the whole, a failing partition retried alone, and nothing left of a job that failed."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from stream_exports.core.datasets import registry
from stream_exports.core.plan import RowPlan
from stream_exports.core.split import Range, _quantiles, estimated_rows, histogram_cuts, split
from stream_exports.jobs import partitions
from stream_exports.jobs.checkpoint import FileState
from stream_exports.jobs.files import MIN_PART
from stream_exports.jobs.pieces import compose, write_piece
from stream_exports.links import sign_url
from stream_exports.models import ExportJob, JobLogLine

from .. import s3
from ..job_api import IMMEDIATE, get, run_started, start
from ..streams import decoder, text
from ..testapp.models import Order
from .test_files import STORED, live_export, on_lambda, run_with, s3_endpoint, s3_jobs

__all__ = ["s3_endpoint", "s3_jobs"]  # (fixtures)

pytestmark = pytest.mark.usefixtures("committed_jobs")


def file_of(job: ExportJob) -> bytes:
    """The job's file as stored, decoded."""
    data = Path(job.file.path).read_bytes()
    return gzip.decompress(data) if job.file.name.endswith(".gz") else data


def run(world, settings, params) -> ExportJob:
    body = run_started(world, settings, params)
    return ExportJob.objects.get(pk=body["id"])


@pytest.mark.parametrize("format", ["ndjson", "csv"])
def test_a_partitioned_job_writes_the_unpartitioned_jobs_file(world, settings, format):
    params = {"paid": "true", "limit": 4321, "format": format}
    whole = run(world, settings, {**params, "partitions": 1})
    split = run(world, settings, {**params, "partitions": 4})
    assert (split.status, split.rows, split.total) == ("succeeded", 4321, 4321)
    assert split.partition_set.count() == 4
    assert file_of(split) == file_of(whole)
    assert split.consistency == (
        "snapshot" if connection.vendor == "postgresql" else "per-partition"
    )
    assert not whole.consistency and whole.partition_set.count() == 0
    leftovers = [p.name for p in Path(split.file.path).parent.iterdir() if ".piece-" in p.name]
    assert leftovers == []


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"partitions": "0"}, "give auto or a whole number from 1"),
        ({"partitions": "many"}, "not 'many'"),
        ({"partitions": "33"}, "to 32 (MAX_PARTITIONS)"),
        ({"partitions": "2", "format": "xlsx"}, "Excel files are written in one piece"),
    ],
)
def test_a_bad_partitions_parameter_is_a_400_naming_it(world, params, problem):
    response = start(world, params)
    assert response.status_code == 400, response.content
    assert response.json()["error"].startswith("partitions: ")
    assert problem in response.json()["error"]
    assert not ExportJob.objects.exists()


def test_a_job_over_partition_rows_is_split_by_itself(world, settings):
    settings.STREAM_EXPORTS = {**IMMEDIATE, "PARTITION_ROWS": 20_000}
    response = start(world, {})
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.rows) == ("succeeded", world["rows"])
    assert [p.rows for p in job.partition_set.all()] == [16_667, 16_667, 16_666]
    status = get(response.json()["links"]["self"]).json()
    assert status["partitions"] == {"done": 3, "total": 3}
    log = text(get(response.json()["links"]["log"]))
    assert "in 3 partitions" in log


def test_a_small_job_is_not_split_and_partitions_1_is_never_split(world, settings):
    settings.STREAM_EXPORTS = {**IMMEDIATE, "PARTITION_ROWS": 20_000}
    small = start(world, {"limit": 20_000}).json()
    asked = start(world, {"partitions": "1"}).json()
    for body in (small, asked):
        job = ExportJob.objects.get(pk=body["id"])
        assert (job.status, job.partition_set.count(), job.consistency) == ("succeeded", 0, "")
        assert "partitions" not in get(body["links"]["self"]).json()


def test_without_job_count_total_no_job_counts_its_rows(world, settings):
    # (with the default PARTITION_ROWS the estimate says: not split)
    settings.STREAM_EXPORTS = {**IMMEDIATE, "JOB_COUNT_TOTAL": False}
    with CaptureQueriesContext(connection) as queries:
        body = start(world, {"paid": "true"}).json()
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.status, job.total, job.partition_set.count()) == ("succeeded", None, 0)
    assert job.rows == Order.objects.filter(paid=True).count()
    table = Order._meta.db_table
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert [sql for sql in counts if table in sql] == []
    assert queries.captured_queries  # (the job's queries were seen)


def analysed() -> None:
    """The orders table's statistics brought up to date, as autovacuum (PostgreSQL) or
    InnoDB's automatic recalculation would have (a table never analysed is guessed at)."""
    table = connection.ops.quote_name(Order._meta.db_table)
    if connection.vendor != "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {'TABLE ' if connection.vendor == 'mysql' else ''}{table}")
            if connection.vendor == "mysql":
                cursor.fetchall()


def test_without_job_count_total_the_planners_estimate_splits_a_job(world, settings):
    analysed()
    settings.STREAM_EXPORTS = {**IMMEDIATE, "JOB_COUNT_TOTAL": False, "PARTITION_ROWS": 20_000}
    body = start(world, {}).json()
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.status, job.rows, job.total) == ("succeeded", world["rows"], None)
    if connection.vendor == "sqlite":  # (no estimate: split only when counted or asked)
        assert job.partition_set.count() == 0
    else:
        assert job.partition_set.count() >= 2
        assert sum(p.rows for p in job.partition_set.all()) == world["rows"]


def test_the_planners_estimate_is_of_the_rows_read(world):
    def estimate(rows, **kwargs):
        return estimated_rows(RowPlan.for_dataset(registry.get("orders"), rows, ["id"], **kwargs))

    analysed()
    whole, last_fifth = estimate(Order.objects.all()), estimate(Order.objects.filter(id__gt=40_000))
    if connection.vendor == "sqlite":
        assert (whole, last_fifth) == (None, None)
        return
    assert whole is not None and last_fifth is not None
    assert world["rows"] / 2 <= whole <= 2 * world["rows"], whole
    # (a filter's is rougher: MariaDB's index dives may say twice the rows)
    assert world["rows"] / 10 <= last_fifth < whole, last_fifth
    assert estimate(Order.objects.all(), limit=100) == 100


def flaky_pieces(monkeypatch, fails: int, index: int = 1) -> list[int]:
    """Partition ``index``'s first ``fails`` runs fail after their first chunk; the tries seen."""
    tries: list[int] = []
    real = partitions.write_piece

    def write_piece(storage, file, at, count, attempt, chunks, *rest):
        if at == index:
            tries.append(attempt)
            if attempt <= fails:

                def failing(source=chunks):
                    yield next(source)
                    raise ConnectionResetError("the worker's network went away")

                chunks = failing()
        return real(storage, file, at, count, attempt, chunks, *rest)

    monkeypatch.setattr(partitions, "write_piece", write_piece)
    return tries


def test_a_failing_partition_is_retried_alone_and_the_file_is_whole(world, settings, monkeypatch):
    whole = run(world, settings, {"limit": 9000, "partitions": 1})
    tries = flaky_pieces(monkeypatch, fails=2)
    split = run(world, settings, {"limit": 9000, "partitions": 3})
    assert (split.status, split.rows) == ("succeeded", 9000)
    assert tries == [1, 2, 3]
    assert [p.tries for p in split.partition_set.all()] == [1, 3, 1]
    assert file_of(split) == file_of(whole)
    log = [line.message for line in JobLogLine.objects.filter(job=split)]
    assert sum("partition 1 failed (try" in line and "retrying it" in line for line in log) == 2
    assert pieces_left(settings) == []


def test_a_partition_out_of_tries_fails_the_job_and_leaves_nothing(world, settings, monkeypatch):
    tries = flaky_pieces(monkeypatch, fails=99)
    job = run(world, settings, {"limit": 9000, "partitions": 3})
    assert tries == [1, 2, 3]
    assert job.status == "failed"
    assert job.error.startswith("partition 1 failed 3 times: ")
    assert not job.file
    assert pieces_left(settings) == []
    assert not (Path(settings.MEDIA_ROOT) / "stream_exports").exists() or not any(
        (Path(settings.MEDIA_ROOT) / "stream_exports").iterdir()
    )


def pieces_left(settings) -> list[str]:
    """The pieces (and half-written files) under the job files' directory."""
    root = Path(settings.MEDIA_ROOT) / "stream_exports"
    files = sorted(p.name for p in root.iterdir()) if root.exists() else []
    return [name for name in files if ".piece-" in name or name.endswith(".part")]


def test_uneven_cursors_still_split_into_ranges_of_about_the_same_rows(world):
    # A gap (nothing between 1,500 and 44,000) and a skew: every id below 1,500, one in 20 above.
    rows = Order.objects.filter(Q(id__lt=1500) | Q(id__gte=44_000, id__endswith="5"))
    plan = RowPlan.for_dataset(registry.get("orders"), rows, ["id"])
    total = rows.count()
    ranges = split(plan, 4, total)
    sizes = [in_range(rows, r).count() for r in ranges]
    assert sum(sizes) == total and len(sizes) == 4
    assert max(sizes) - min(sizes) <= 1, sizes


def in_range(rows, part: Range):
    if part.after is not None:
        rows = rows.filter(id__gt=part.after)
    return rows if part.until is None else rows.filter(id__lte=part.until)


def test_a_limited_plan_ends_its_last_range_at_its_last_row(world):
    rows = Order.objects.filter(paid=True)
    plan = RowPlan.for_dataset(registry.get("orders"), rows, ["id"], after=100, limit=3000)
    ranges = split(plan, 3, 3000)
    assert ranges[0].after == 100
    assert [in_range(rows.filter(id__gt=100), r).count() for r in ranges] == [1000] * 3
    assert ranges[-1].until == list(rows.filter(id__gt=100).values_list("id", flat=True)[:3000])[-1]


def test_postgresql_splits_by_its_histogram_when_fresh(world, postgres):
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Order._meta.db_table}")
    plan = RowPlan.for_dataset(registry.get("orders"), Order.objects.all(), ["id"])
    cuts = histogram_cuts(plan, 4)
    assert cuts is not None and len(cuts) == 3
    sizes = [in_range(Order.objects.all(), r).count() for r in split(plan, 4, world["rows"])]
    assert max(sizes) <= 1.05 * world["rows"] / 4, sizes


def test_a_skewed_histogram_is_cut_at_its_quantiles():
    # Bounds of a histogram whose values crowd at the start, then thin out.
    bounds = [n**3 for n in range(101)]
    assert _quantiles(bounds, 4) == [25**3, 50**3, 75**3]


def s3_file(s3_jobs, job: ExportJob) -> tuple[bytes, dict]:
    """The job's object, decoded, and its head."""
    client = s3.client(s3_jobs["endpoint"])
    stored = client.get_object(Bucket=s3_jobs["bucket"], Key=job.file.name)
    data = stored["Body"].read()
    return (gzip.decompress(data) if job.file.name.endswith(".gz") else data), stored


@pytest.mark.parametrize(("count", "gzipped"), [(2, False), (8, True)])
def test_on_s3_the_pieces_are_one_multipart_upload_of_one_object(
    world, settings, s3_jobs, count, gzipped
):
    stream_exports = {"JOB_FILE_GZIP": gzipped, "PARTITION_ROWS": 0}
    whole = ExportJob.objects.get(pk=run_with(world, settings, {}, **stream_exports)["id"])
    body = run_with(world, settings, {"partitions": count}, **stream_exports)
    split = ExportJob.objects.get(pk=body["id"])
    assert (split.status, split.rows) == ("succeeded", world["rows"]), split.error
    assert split.partition_set.count() == count
    data, stored = s3_file(s3_jobs, split)
    assert data == s3_file(s3_jobs, whole)[0]
    assert stored["ContentType"] == "application/x-ndjson; charset=utf-8"
    assert stored.get("ContentEncoding") == ("gzip" if gzipped else None)
    assert stored["ETag"].strip('"').rsplit("-", 1)[1].isdigit()  # one multipart upload's
    client = s3.client(s3_jobs["endpoint"])
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_jobs["bucket"])["Contents"]]
    assert sorted(keys) == sorted([whole.file.name, split.file.name])  # no piece left
    assert not client.list_multipart_uploads(Bucket=s3_jobs["bucket"]).get("Uploads")
    heads = [p.piece["head_size"] for p in split.partition_set.all()]
    assert all(size >= MIN_PART for size in heads) if not gzipped else max(heads) < MIN_PART
    # Its download: a gzip member a piece is never handed to a client as one encoding
    # (a redirect to S3 would be); streamed whole, compressed again as asked.
    url = sign_url(reverse("stream_exports:job-download", args=[split.pk]), split.owner)
    response = Client().get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == (200 if gzipped else 302)
    if gzipped:
        assert decoder("gzip").decompress(b"".join(response.streaming_content)) == data


def test_on_s3_a_failed_partitioned_job_aborts_its_upload_and_leaves_nothing(
    world, settings, s3_jobs, monkeypatch
):
    flaky_pieces(monkeypatch, fails=99)
    body = run_with(world, settings, {"partitions": 3, "limit": 30_000}, JOB_FILE_GZIP=False)
    job = ExportJob.objects.get(pk=body["id"])
    assert job.status == "failed" and job.error.startswith("partition 1 failed 3 times")
    client = s3.client(s3_jobs["endpoint"])
    assert not client.list_objects_v2(Bucket=s3_jobs["bucket"]).get("Contents")
    assert not client.list_multipart_uploads(Bucket=s3_jobs["bucket"]).get("Uploads")


def test_pieces_of_every_size_compose_into_one_object_in_order(settings, s3_jobs):
    """Big pieces upload parts as they go (their last part never short), small ones are
    joined with the next head or the tail: the object is every piece in order."""
    storage = storages["jobs"]
    name = "stream_exports/composed.bin"
    client = s3.client(s3_jobs["endpoint"])
    upload = client.create_multipart_upload(Bucket=s3_jobs["bucket"], Key=name)
    file = FileState(name, {"upload_id": upload["UploadId"], "parts": []})
    sizes = [2 * 2**20, 23 * 2**20, 1, 0, 3 * 2**20, 6 * 2**20]
    data = [os.urandom(size) for size in sizes]
    chunked = [[piece[at : at + 2**20] for at in range(0, len(piece), 2**20)] for piece in data]
    pieces = [
        write_piece(storage, file, index, len(sizes), 1, iter(chunks))[0]
        for index, chunks in enumerate(chunked)
    ]
    assert len(pieces[1]["parts"]) == 2 and pieces[1]["head_size"] == MIN_PART  # 5 + 10 + 8
    compose(storage, file, {}, pieces, b"the tail\n")
    stored = client.get_object(Bucket=s3_jobs["bucket"], Key=name)["Body"].read()
    assert stored == b"".join(data) + b"the tail\n"
    assert [o["Key"] for o in client.list_objects_v2(Bucket=s3_jobs["bucket"])["Contents"]] == [
        name
    ]


def test_pieces_written_in_runs_of_a_chunk_each_compose_into_the_same_object(settings, s3_jobs):
    """Every run stops after one chunk and the next takes the piece up from its state:
    heads and held-back bytes read back, parts numbered on."""
    storage = storages["jobs"]
    name = "stream_exports/continued.bin"
    client = s3.client(s3_jobs["endpoint"])
    upload = client.create_multipart_upload(Bucket=s3_jobs["bucket"], Key=name)
    file = FileState(name, {"upload_id": upload["UploadId"], "parts": []})
    sizes = [3 * 2**20, 27 * 2**20, 0, 7 * 2**20]
    data = [os.urandom(size) for size in sizes]
    pieces = []
    for index, piece in enumerate(data):
        chunks = iter([piece[at : at + 2**20] for at in range(0, len(piece), 2**20)])
        state, whole, runs = None, False, 0
        while not whole:
            state, whole = write_piece(
                storage, file, index, len(sizes), 1, chunks, state, lambda: True
            )
            runs += 1
        assert runs == len(piece) // 2**20 + 1  # (a run a chunk, and the last closes it)
        pieces.append(state)
    assert len(pieces[1]["parts"]) == 2  # (as if written in one run: 5 + 10 + 12)
    names = [f"{name}.piece-{i}-1{held}" for i in range(len(sizes)) for held in ("", ".held")]
    compose(storage, FileState(name, {**file.sink, "pieces": names}), {}, pieces, b"end\n")
    stored = client.get_object(Bucket=s3_jobs["bucket"], Key=name)["Body"].read()
    assert stored == b"".join(data) + b"end\n"
    assert [o["Key"] for o in client.list_objects_v2(Bucket=s3_jobs["bucket"])["Contents"]] == [
        name
    ]


def test_on_lambda_a_partition_that_fails_after_going_on_starts_again_from_its_start(
    world, settings, signed, s3_jobs, monkeypatch
):
    queue = on_lambda(settings, monkeypatch, CHUNK_SIZE=500, JOB_SLICE_SECONDS=0.001, **STORED)
    real, runs = partitions.write_piece, []

    def write_piece(storage, file, index, count, attempt, chunks, state, over):
        if index == 1:
            runs.append((attempt, state is not None))
            if attempt == 1 and state is not None:  # (its first try's second run)
                raise ConnectionResetError("the invocation's network went away")
        return real(storage, file, index, count, attempt, chunks, state, over)

    monkeypatch.setattr(partitions, "write_piece", write_piece)
    job_id = start(world, {"partitions": 3, "limit": 20_000}).json()["id"]
    queue.deliver(seconds=0.4)
    job = ExportJob.objects.get(pk=job_id)
    assert (job.status, job.rows) == ("succeeded", 20_000), job.error
    assert runs[:3] == [(1, False), (1, True), (2, False)]  # (from its start, a new try)
    assert [p.tries for p in job.partition_set.all()] == [1, 2, 1]
    assert s3_file(s3_jobs, job)[0] == live_export(signed, {"limit": 20_000})
    assert s3_leftovers(s3_jobs, job) == ([], [])  # (the first try's held bytes too)


@pytest.mark.parametrize("accept", ["gzip", "zstd", "identity"])
def test_a_partitioned_jobs_download_is_whole_for_a_client_that_decodes_one_member(
    world, settings, accept
):
    """Before: sent as stored (a gzip member a piece) to a client that takes gzip, which
    curl and Chromium cut after the first piece, silently (50,000 of 200,000 rows)."""
    split = run(world, settings, {"limit": 4321, "format": "csv", "partitions": 4})
    url = sign_url(reverse("stream_exports:job-download", args=[split.pk]), split.owner)
    response = Client().get(url, HTTP_ACCEPT_ENCODING=accept)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert response.get("Content-Encoding", "identity") == accept
    plain = body if accept == "identity" else decoder(accept).decompress(body)
    assert plain == file_of(split)
    assert plain.count(b"\n") > 4321  # (every row, a header)


def test_a_partitioned_job_whose_owner_may_no_longer_export_fails_saying_so(exporter):
    """Checked as an unsplit job is, before its rows are counted or split: no partition runs."""
    from stream_exports.jobs.lifecycle import create_job

    eve = exporter("eve")
    job = create_job(registry.get("orders"), {"limit": "3000"}, eve, partitions=2)
    eve.user_permissions.clear()
    partitions.run_task(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.rows, job.file.name) == ("failed", 0, "")
    assert job.error == "its owner may no longer export dataset 'orders'."
    assert not job.partition_set.exists()


def s3_leftovers(s3_jobs, job: ExportJob) -> tuple[list[str], list[dict]]:
    """The objects in the bucket but the job's file, and the uploads left open."""
    client = s3.client(s3_jobs["endpoint"])
    objects = client.list_objects_v2(Bucket=s3_jobs["bucket"]).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=s3_jobs["bucket"]).get("Uploads", [])
    return [o["Key"] for o in objects if o["Key"] != job.file.name], uploads


def test_on_lambda_each_partition_and_its_coordinator_go_on_in_new_invocations(
    world, settings, signed, s3_jobs, monkeypatch
):
    """Invocations of 0.3 s and slices of 1 ms (every run ends after its first chunk), run
    one after another: none overlaps, so no snapshot is handed on."""
    queue = on_lambda(settings, monkeypatch, CHUNK_SIZE=500, JOB_SLICE_SECONDS=0.001, **STORED)
    params = {"partitions": 3, "limit": 20_000}
    job_id = start(world, params).json()["id"]
    invocations = queue.deliver(seconds=0.4)
    job = ExportJob.objects.get(pk=job_id)
    assert (job.status, job.rows) == ("succeeded", 20_000), job.error
    parts = list(job.partition_set.all())
    assert [p.tries for p in parts] == [1, 1, 1]  # (a continuation is not a new try)
    log = [line.message for line in JobLogLine.objects.filter(job=job)]
    for part in parts:
        assert any(f"partition {part.index}: this run's time is up" in line for line in log)
    assert "handing the job on" in " ".join(log) and "coordinating again" in " ".join(log)
    assert invocations > 2 * len(parts)
    data, _ = s3_file(s3_jobs, job)
    assert data == live_export(signed, {"limit": 20_000})
    assert s3_leftovers(s3_jobs, job) == ([], [])
    assert job.consistency == "per-partition"
    if connection.vendor == "postgresql":
        assert any("the job's snapshot was gone" in line for line in log)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
def test_a_coordinator_whose_time_is_up_hands_the_job_and_its_snapshot_on(
    world, settings, signed, s3_jobs
):
    """Runs in threads (they overlap, as Lambda invocations do): the next coordinator takes
    the snapshot over, so an order added after the first hand-on is in no partition."""
    expected = live_export(signed)
    settings.STREAM_EXPORTS = {
        "JOB_RUNNER": "stream_exports.runners.ThreadRunner",
        "JOB_STORAGE": "jobs",
        "JOB_SLICE_SECONDS": 0.3,
        "CHUNK_SIZE": 500,
        **STORED,
    }
    job_id = start(world, {"partitions": 3}).json()["id"]
    handed_on = JobLogLine.objects.filter(job_id=job_id, message__contains="handing the job on")
    deadline = time.monotonic() + 60
    while not handed_on.exists():
        assert time.monotonic() < deadline, "the coordinator never handed the job on"
        time.sleep(0.02)
    late = Order.objects.create(**{**Order.objects.values().get(pk=1), "id": None})
    try:
        while ExportJob.objects.filter(pk=job_id, status="running").exists():
            assert time.monotonic() < deadline, "the job did not end"
            time.sleep(0.05)
    finally:
        late.delete()
    job = ExportJob.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error
    assert s3_file(s3_jobs, job)[0] == expected
    assert job.consistency == "snapshot"
    log = " ".join(line.message for line in JobLogLine.objects.filter(job=job))
    assert "coordinating again" in log and "per-partition" not in log
    assert s3_leftovers(s3_jobs, job) == ([], [])
