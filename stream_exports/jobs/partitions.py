"""Partitioned jobs: one export split into ranges of its cursor, each run as a task of its
own on the job's runner, written as one piece of the job's one file.

The process that claims the job is its *coordinator*: it splits the cursor
(:func:`~stream_exports.core.split.split`), opens the file (on S3 the one multipart
upload), on PostgreSQL exports a snapshot it holds open while the partitions read in it,
and submits every partition (``<job id>/<index>``). Then it runs partitions itself,
the last first (whichever no other worker took: a pool of one never waits on itself) while a
:class:`Watch` thread keeps the job's heartbeat, sums the partitions' progress, retries
a failed or stale partition alone (``PARTITION_TRIES``) and sees a cancel. When every
partition is done it joins the pieces and the tail (NDJSON's trailer) into the file.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from datetime import timedelta
from typing import Any, TypeVar

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from ..conf import conf
from ..core.errors import Refusal
from ..core.exports import Export
from ..core.formats.base import Position, describe_failure
from ..core.split import Range, estimated_rows, split
from .checkpoint import Checkpoint, FileState
from .files import is_s3, s3_key
from .lifecycle import finish, log, record_event
from .models import ExportJob, ExportPartition, JobStatus, PartitionStatus, job_storage
from .pieces import compose, piece_names, write_piece
from .worker import (
    WRITE_FAILED,
    claim,
    counted_rows,
    file_headers,
    job_export,
    new_file_name,
    run_claimed,
    worker_name,
)

__all__ = [
    "PER_PARTITION",
    "SNAPSHOT",
    "next_queued_partition",
    "run_task",
]

logger = logging.getLogger("stream_exports")

#: ``ExportJob.consistency``: every partition read one PostgreSQL snapshot.
SNAPSHOT = "snapshot"
#: ``ExportJob.consistency``: each partition read the database as it was when it ran.
PER_PARTITION = "per-partition"

Submit = Callable[[str], None]
T = TypeVar("T")


class Stopped(Exception):
    """The partition was told to stop (its job cancelled or failed, or it was taken)."""


class PartitionFailed(Exception):
    """The export of a partition failed after it began (its message says why)."""


def run_task(task_id: str, deadline: float | None = None, submit: Submit | None = None) -> bool:
    """Run a job or a partition of one (``<job id>/<index>``); True when the job stopped
    at a checkpoint and its runner must submit it again. ``submit`` sends a partition to
    the job's runner (None: it waits in the table for ``export_worker`` or the
    coordinator)."""
    job_id, _, index = task_id.partition("/")
    if index:
        run_partition(job_id, int(index), submit)
        return False
    job = claim(job_id)
    if job is None:
        logger.info("job %s was not queued (already taken or gone)", job_id)
        return False

    def coordinate(job: ExportJob, export: Export) -> bool:
        ranges = _ranges(job, export)
        if len(ranges) == 1:
            return False
        Coordinator(job, export, ranges, submit).run()
        return True

    return run_claimed(job, deadline, coordinate)


def _ranges(job: ExportJob, export: Export) -> list[Range]:
    """The ranges ``job`` is split into (one: it is not). Its rows are counted only when
    ``JOB_COUNT_TOTAL`` counts them anyway or ``partitions=`` asks for a number; else the
    planner's estimate decides (none on SQLite: there a job splits itself only when counted)."""
    if job.checkpoint or job.partitions == 1 or not export.format.continuable:
        return [Range(None, None)]
    plan = export.content.plan
    if plan.ordering:  # (an admin changelist's own order: one reader keeps it)
        return [Range(None, None)]
    exact = conf.JOB_COUNT_TOTAL or job.partitions is not None
    total = counted_rows(plan) if exact else estimated_rows(plan)
    if exact:
        job.total = total
        job.save(update_fields=["total"])
    if total is None:
        return [Range(None, None)]
    parts = job.partitions
    if parts is None:
        if not conf.PARTITION_ROWS or total <= conf.PARTITION_ROWS:
            return [Range(None, None)]
        parts = -(-total // conf.PARTITION_ROWS)
    return split(plan, min(parts, conf.MAX_PARTITIONS), total)


@contextlib.contextmanager
def exported_snapshot(using: str) -> Iterator[str]:
    """On PostgreSQL, a snapshot exported by a transaction of a connection of its own, held
    open until the block ends (``""`` elsewhere)."""
    if connections[using].vendor != "postgresql":
        yield ""
        return
    holder = connections.create_connection(using)
    try:
        with holder.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            yield str(cursor.fetchone()[0])
            cursor.execute("ROLLBACK")
    finally:
        holder.close()


class SnapshotGone(Exception):
    """The job's snapshot could not be imported (its coordinator let it go)."""


def read_in_snapshot(job: ExportJob, using: str, read: Callable[[], T]) -> T:
    """``read()`` in the job's snapshot when it can be had, else as the database is now
    (and the job's consistency says so)."""
    if job.snapshot and connections[using].vendor == "postgresql":
        connections[using].ensure_connection()
        try:
            with transaction.atomic(using=using):
                try:
                    with connections[using].cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        cursor.execute("SET TRANSACTION SNAPSHOT %s", [job.snapshot])
                except DatabaseError as exc:
                    raise SnapshotGone(str(exc)) from exc
                return read()
        except SnapshotGone as exc:
            ExportJob.objects.filter(pk=job.pk).update(consistency=PER_PARTITION)
            log(job, f"a partition read without the job's snapshot ({exc}): per-partition")
    return read()


class Coordinator:
    """Plans, runs and ends one partitioned job (see the module)."""

    def __init__(
        self, job: ExportJob, export: Export, ranges: list[Range], submit: Submit | None
    ) -> None:
        self.job, self.export, self.ranges, self.submit = job, export, ranges, submit

    def run(self) -> None:
        job = self.job
        using = self.export.content.plan.queryset.db
        with exported_snapshot(using) as snapshot:
            self.open(snapshot)
            watch = Watch(job, len(self.ranges), self.submit)
            watch.start()
            try:
                for partition in job.partition_set.all():
                    if self.submit is not None:
                        self.submit(partition.task_id)
                while not watch.done.wait(0):
                    if (taken := next_queued_partition(job.pk, last_first=True)) is not None:
                        run_partition(str(job.pk), taken.index, self.submit, job=job)
                    else:
                        watch.done.wait(conf.JOB_PROGRESS_INTERVAL)
            finally:
                watch.stop()
            self.end(watch)

    def open(self, snapshot: str) -> None:
        """The partitions' rows, the file (its upload), the snapshot: stored on the job."""
        job, storage = self.job, job_storage()
        name, gzip = new_file_name(job)
        pieces = piece_names(FileState(name), len(self.ranges), conf.PARTITION_TRIES)
        sink: dict[str, Any] = {"pieces": pieces}
        if is_s3(storage):
            params = {**storage.get_object_parameters(name), **file_headers(job, gzip)}
            client = storage.connection.meta.client
            upload = client.create_multipart_upload(
                Bucket=storage.bucket_name, Key=s3_key(storage, name), **params
            )
            sink.update(upload_id=upload["UploadId"], parts=[])
        file = FileState(name, sink, {"crc": 0, "size": 0} if gzip else None)
        job.checkpoint = Checkpoint(file=file).as_json()
        job.snapshot, job.consistency = snapshot, SNAPSHOT if snapshot else PER_PARTITION
        ExportPartition.objects.bulk_create(
            ExportPartition(job=job, index=index, after=part.after, until=part.until)
            for index, part in enumerate(self.ranges)
        )
        job.save(update_fields=["checkpoint", "snapshot", "consistency"])
        total = job.total if job.total is not None else "unknown"
        read = "one snapshot" if snapshot else "each partition as it runs (per-partition)"
        log(job, f"running: {total} rows to write in {len(self.ranges)} partitions, read in {read}")
        record_event(job, "progress")

    def end(self, watch: Watch) -> None:
        """Join the pieces and finish, or stop every partition, drop the file and fail."""
        job = self.job
        job.refresh_from_db(fields=["rows", "bytes", "consistency"])
        if watch.outcome is JobStatus.SUCCEEDED:
            try:
                self.join()
            except Exception as exc:
                logger.exception("job %s: joining its pieces failed", job.pk)
                watch.outcome, watch.error = (
                    JobStatus.FAILED,
                    describe_failure(exc, WRITE_FAILED),
                )
            else:
                finish(job, JobStatus.SUCCEEDED)
                return
        stop_partitions(job)
        finish(job, watch.outcome or JobStatus.FAILED, watch.error)

    def join(self) -> None:
        job = self.job
        parts = list(job.partition_set.order_by("index"))
        rows = sum(part.rows for part in parts)
        last = next((part.last for part in reversed(parts) if part.rows), None)
        at = Position(rows=rows, last=last)
        tail = b"".join(self.export.tail(last).chunks(at))
        saved = Checkpoint.from_json(job.checkpoint)
        assert saved is not None and saved.file is not None
        name = compose(
            job_storage(),
            saved.file,
            file_headers(job, saved.file.gzip is not None),
            [part.piece for part in parts],
            tail,
        )
        job.file.name = name
        job.rows, job.bytes = rows, sum(part.bytes for part in parts) + len(tail)
        job.checkpoint = {}  # (whole: nothing for finish() to drop)


def stop_partitions(job: ExportJob) -> None:
    """Cancel the partitions not done and wait (``JOB_STALE_AFTER`` at most) until none
    runs, so that none stores a piece after the file is dropped."""
    unfinished = job.partition_set.filter(
        status__in=(PartitionStatus.QUEUED, PartitionStatus.RUNNING)
    )
    unfinished.update(status=PartitionStatus.CANCELLED)
    deadline = time.monotonic() + conf.JOB_STALE_AFTER
    while time.monotonic() < deadline and _running(job):
        time.sleep(conf.JOB_PROGRESS_INTERVAL)


def _running(job: ExportJob) -> bool:
    """Whether a worker still writes a piece of ``job`` (its heartbeat is fresh)."""
    fresh = timezone.now() - timedelta(seconds=conf.JOB_STALE_AFTER)
    return job.partition_set.filter(worker__gt="", heartbeat_at__gte=fresh).exists()


class Watch(threading.Thread):
    """The coordinator's eyes: the job's heartbeat, progress summed over its partitions,
    stale partitions retried, a cancel seen; ``outcome`` once the job is to end."""

    def __init__(self, job: ExportJob, count: int, submit: Submit | None) -> None:
        super().__init__(daemon=True, name=f"watch-{job.pk}")
        self.job = ExportJob.objects.get(pk=job.pk)
        self.count, self.submit = count, submit
        self.outcome: JobStatus | None = None
        self.error = ""
        self.done = threading.Event()
        self.last_log = time.monotonic()
        self.started = time.monotonic()

    def run(self) -> None:
        try:
            while self.outcome is None and not self.done.wait(conf.JOB_PROGRESS_INTERVAL):
                self.step()
        except Exception as exc:
            logger.exception("job %s: watching its partitions failed", self.job.pk)
            self.outcome, self.error = JobStatus.FAILED, describe_failure(exc, "the job failed")
        finally:
            self.done.set()
            connections.close_all()

    def stop(self) -> None:
        self.done.set()
        self.join()

    def step(self) -> None:
        job = self.job
        ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        if ExportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
            self.outcome, self.error = JobStatus.CANCELLED, "cancelled on request"
            return
        stale = timezone.now() - timedelta(seconds=conf.JOB_STALE_AFTER)
        for gone in job.partition_set.filter(
            status=PartitionStatus.RUNNING, heartbeat_at__lt=stale
        ):
            retry_or_fail(gone, f"worker {gone.worker} stopped", self.submit)
        parts = list(
            job.partition_set.values_list("status", "rows", "bytes", "index", "tries", "error")
        )
        rows, size = sum(p[1] for p in parts), sum(p[2] for p in parts)
        done = sum(p[0] == PartitionStatus.SUCCEEDED for p in parts)
        if (rows, size) != (job.rows, job.bytes):
            job.rows, job.bytes = rows, size
            ExportJob.objects.filter(pk=job.pk).update(rows=rows, bytes=size)
            record_event(job, "progress")
        if time.monotonic() - self.last_log >= conf.JOB_LOG_INTERVAL:
            self.last_log = time.monotonic()
            share = f" of {job.total} ({100 * rows / job.total:.0f} %)" if job.total else ""
            rate = rows / (self.last_log - self.started)
            done_of = f"{done} of {len(parts)} partitions done"
            log(job, f"{rows} rows{share}, {done_of}, {rate:,.0f} rows/s")
        for status, _, _, index, tries, error in parts:
            if status == PartitionStatus.FAILED:
                self.outcome = JobStatus.FAILED
                self.error = f"partition {index} failed {tries} times: {error}"
                return
        if done == len(parts):
            self.outcome = JobStatus.SUCCEEDED


def next_queued_partition(
    job_id: Any = None, *, last_first: bool = False
) -> ExportPartition | None:
    """A queued partition of a running job (of ``job_id`` if given), oldest job first, its
    first partition first; ``last_first``: its last (the coordinator's, so that it does not
    race the workers taking the partitions' tasks in the order they were sent)."""
    queued = ExportPartition.objects.filter(
        status=PartitionStatus.QUEUED, job__status=JobStatus.RUNNING
    )
    if job_id is not None:
        queued = queued.filter(job_id=job_id)
    return queued.order_by("job__created_at", "-index" if last_first else "index").first()


def retry_or_fail(partition: ExportPartition, error: str, submit: Submit | None) -> None:
    """Queue ``partition`` again after a failed run, or fail it when it had its
    ``PARTITION_TRIES``; only if it is still that run's (same worker, running)."""
    again = partition.tries < conf.PARTITION_TRIES
    status = PartitionStatus.QUEUED if again else PartitionStatus.FAILED
    moved = ExportPartition.objects.filter(
        pk=partition.pk, status=PartitionStatus.RUNNING, worker=partition.worker
    ).update(status=status, error=error, worker="", heartbeat_at=None)
    if not moved:
        return
    job = ExportJob.objects.get(pk=partition.job_id)
    what = "retrying it" if again else "no tries left"
    log(job, f"partition {partition.index} failed (try {partition.tries}): {error}; {what}")
    if again and submit is not None:
        submit(partition.task_id)


def _claim_partition(job_id: Any, index: int) -> ExportPartition | None:
    worker, now = worker_name(), timezone.now()
    found = (
        ExportPartition.objects.filter(
            job_id=job_id, index=index, status=PartitionStatus.QUEUED, job__status=JobStatus.RUNNING
        )
        .values_list("pk", "tries")
        .first()
    )
    if found is None:
        return None
    pk, tries = found
    claimed = ExportPartition.objects.filter(
        pk=pk, status=PartitionStatus.QUEUED, tries=tries
    ).update(status=PartitionStatus.RUNNING, tries=tries + 1, worker=worker, heartbeat_at=now)
    return ExportPartition.objects.get(pk=pk) if claimed else None


def run_partition(
    job_id: str, index: int, submit: Submit | None, job: ExportJob | None = None
) -> None:
    """Run partition ``index`` of the job if it is queued: write its piece, then mark it
    done, or queue it again (or fail it) when that fails."""
    partition = _claim_partition(job_id, index)
    if partition is None:
        logger.info("partition %s/%s was not queued (taken, done or stopped)", job_id, index)
        return
    if job is None:
        job = ExportJob.objects.get(pk=job_id)
    else:  # (the coordinator's: what its partitions wrote since)
        job.refresh_from_db(fields=["checkpoint", "snapshot", "consistency"])
    progress = PartitionProgress(partition)
    progress.start()
    try:
        with timezone.override(None):
            piece, at = _write_partition(job, partition, progress)
    except Stopped:
        mine = ExportPartition.objects.filter(pk=partition.pk, worker=partition.worker)
        mine.filter(status=PartitionStatus.RUNNING).update(status=PartitionStatus.CANCELLED)
        mine.update(worker="", heartbeat_at=None)
        return
    except Exception as exc:
        logger.exception("partition %s failed", partition.task_id)
        told = str(exc) if isinstance(exc, PartitionFailed | Refusal) else describe_failure(exc)
        progress.finish()
        retry_or_fail(partition, told, submit)
        return
    finally:
        progress.finish()
    ExportPartition.objects.filter(
        pk=partition.pk, status=PartitionStatus.RUNNING, worker=partition.worker
    ).update(
        status=PartitionStatus.SUCCEEDED,
        rows=at.rows,
        bytes=progress.bytes,
        last=at.last,
        piece=piece,
        error="",
        heartbeat_at=None,
        worker="",
    )


def _write_partition(
    job: ExportJob, partition: ExportPartition, progress: PartitionProgress
) -> tuple[dict[str, Any], Position]:
    saved = Checkpoint.from_json(job.checkpoint)
    if saved is None or saved.file is None:
        raise Stopped  # (its job ended: the file is gone)
    file = saved.file
    export = job_export(job).piece(partition.after, partition.until, first=partition.index == 0)
    count = job.partition_set.count()
    at = Position()

    def write() -> dict[str, Any]:
        chunks = export.chunks(at)
        with closing(chunks):
            watched = _watched(chunks, at, progress)
            return write_piece(
                job_storage(), file, partition.index, count, partition.tries, watched
            )

    return read_in_snapshot(job, export.content.plan.queryset.db, write), at


def _watched(
    chunks: Iterator[bytes], at: Position, progress: PartitionProgress
) -> Generator[bytes, None, None]:
    """``chunks``, counted for ``progress``; :class:`Stopped` when it is told to stop."""
    for chunk in chunks:
        if progress.stopped_by.is_set():
            raise Stopped
        progress.rows, progress.bytes = at.rows, progress.bytes + len(chunk)
        yield chunk
    if at.failed:
        raise PartitionFailed(at.error)
    if progress.stopped_by.is_set():
        raise Stopped


class PartitionProgress(threading.Thread):
    """Writes a running partition's counts and heartbeat from a connection of its own,
    and sees when it must stop (its job cancelled or ended, or it was taken from it)."""

    def __init__(self, partition: ExportPartition) -> None:
        super().__init__(daemon=True, name=f"partition-{partition.task_id}")
        self.partition = partition
        self.rows = self.bytes = 0
        self.stopped = threading.Event()
        self.stopped_by = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(conf.JOB_PROGRESS_INTERVAL):
                mine = ExportPartition.objects.filter(
                    pk=self.partition.pk,
                    status=PartitionStatus.RUNNING,
                    worker=self.partition.worker,
                    job__status=JobStatus.RUNNING,
                    job__cancel_requested=False,
                )
                if not mine.update(rows=self.rows, bytes=self.bytes, heartbeat_at=timezone.now()):
                    self.stopped_by.set()
        finally:
            connections.close_all()

    def finish(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join()
