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

Runs end: a partition (on S3) or the coordinator whose slice is over (a Lambda
invocation's deadline, ``JOB_SLICE_SECONDS``) stops at a checkpoint and is submitted
again. A partition keeps its rows, cursor and half-written piece on its row; a coordinator
hands the job on (still running, no worker), and holds its snapshot until the next one has
taken it over (imported and exported it again) or could not, so that the partitions
still share one snapshot across runs when the next run starts in time.
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
from .files import S3Sink, is_s3
from .lifecycle import finish, log, record_event
from .models import ExportJob, ExportPartition, JobStatus, PartitionStatus, job_storage
from .pieces import compose, piece_names, write_piece
from .worker import (
    WRITE_FAILED,
    Slice,
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
    "take_handed_on",
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
    """Run a job or a partition of one (``<job id>/<index>``) until ``deadline`` (epoch
    seconds) at most; True when it stopped at a checkpoint and its runner must submit it
    again. ``submit`` sends a task to the job's runner (None: it waits in the table for
    ``export_worker`` or the coordinator)."""
    job_id, _, index = task_id.partition("/")
    if index:
        part = Slice.until(deadline, sliced=is_s3(job_storage()))
        return run_partition(job_id, int(index), submit, part=part)
    job = claim(job_id)
    handed_on = job is None and (job := take_handed_on(job_id)) is not None
    if job is None:
        logger.info("job %s was not queued (already taken or gone)", job_id)
        return False

    def coordinate(job: ExportJob, export: Export) -> bool:
        # (with no runner to submit its next run to, as in export_worker: to the end)
        part = Slice.until(deadline if submit else None, sliced=submit is not None)
        coordinator = Coordinator(job, export, submit, part)
        if handed_on:
            coordinator.resume()
            return True
        ranges = _ranges(job, export)
        if len(ranges) == 1:
            return False
        coordinator.run(ranges)
        return True

    return run_claimed(job, deadline, coordinate)


def take_handed_on(job_id: Any) -> ExportJob | None:
    """Take over coordinating a partitioned job its last coordinator handed on (running,
    no worker), once, whoever races for it."""
    taken = ExportJob.objects.filter(pk=job_id, status=JobStatus.RUNNING, worker="").update(
        worker=worker_name(), heartbeat_at=timezone.now()
    )
    return ExportJob.objects.get(pk=job_id) if taken else None


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
def exported_snapshot(using: str, taken_over: str | None = None) -> Iterator[str]:
    """On PostgreSQL, a snapshot exported by a transaction of a connection of its own, held
    open until the block ends (``""`` elsewhere). ``taken_over``: the snapshot of the
    coordinator before, imported and exported again (``""`` when it is gone)."""
    if connections[using].vendor != "postgresql" or taken_over == "":
        yield ""
        return
    holder = connections.create_connection(using)
    try:
        with holder.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            gone = False
            if taken_over is not None:
                try:
                    cursor.execute("SET TRANSACTION SNAPSHOT %s", [taken_over])
                except DatabaseError:
                    gone = True
            if gone:
                yield ""
                return
            cursor.execute("SELECT pg_export_snapshot()")
            yield str(cursor.fetchone()[0])
            cursor.execute("ROLLBACK")
    finally:
        holder.close()


class SnapshotGone(Exception):
    """The job's snapshot could not be imported (its coordinator let it go)."""


def read_in_snapshot(job: ExportJob, using: str, read: Callable[[], T]) -> T:
    """``read()`` in the job's snapshot when it can be had, else as the database is now
    (and the job's consistency says so). A snapshot gone as its coordinator hands it on is
    looked up once more: the next coordinator's may be there."""
    if job.snapshot and connections[using].vendor == "postgresql":
        connections[using].ensure_connection()
        for looked_again in (False, True):
            gone = job.snapshot
            try:
                return _read_in(using, gone, read)
            except SnapshotGone as exc:
                job.refresh_from_db(fields=["snapshot"])
                if looked_again or job.snapshot in ("", gone):
                    ExportJob.objects.filter(pk=job.pk).update(consistency=PER_PARTITION)
                    log(job, f"a partition read without the job's snapshot ({exc}): per-partition")
                    break
    return read()


def _read_in(using: str, snapshot: str, read: Callable[[], T]) -> T:
    """``read()`` in a transaction of ``snapshot``; :class:`SnapshotGone` if it is gone."""
    with transaction.atomic(using=using):
        try:
            with connections[using].cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
        except DatabaseError as exc:
            raise SnapshotGone(str(exc)) from exc
        return read()


class Coordinator:
    """Plans, runs and ends one partitioned job, or hands it on to a next run of its own
    when ``part`` is over (see the module)."""

    def __init__(self, job: ExportJob, export: Export, submit: Submit | None, part: Slice) -> None:
        self.job, self.export, self.submit, self.part = job, export, submit, part
        self.using = export.content.plan.queryset.db

    def run(self, ranges: list[Range]) -> None:
        """Start the job as ``ranges``: open its file, submit its partitions, supervise."""
        with exported_snapshot(self.using) as snapshot:
            self.open(ranges, snapshot)
            if self.submit is not None:
                for partition in self.job.partition_set.all():
                    self.submit(partition.task_id)
            self.supervise(snapshot)

    def resume(self) -> None:
        """Go on with a job another coordinator handed on, in its snapshot if it can."""
        job = self.job
        with exported_snapshot(self.using, taken_over=job.snapshot) as snapshot:
            if job.snapshot and not snapshot:
                job.consistency = PER_PARTITION
                log(
                    job,
                    "the job's snapshot was gone when its coordinator was handed on: "
                    "partitions from here read the database as they run (per-partition)",
                )
            if snapshot != job.snapshot:
                job.snapshot = snapshot
                job.save(update_fields=["snapshot", "consistency"])
            log(job, f"coordinating again ({job.rows} rows so far)")
            self.supervise(snapshot)

    def supervise(self, snapshot: str) -> None:
        """Run queued partitions here while a :class:`Watch` sums and checks them, until
        the job is to end (then end it) or this run's slice is over (then hand it on)."""
        job = self.job
        watch = Watch(job, self.submit)
        watch.start()
        try:
            while not watch.done.wait(0) and not self.part.over:
                if (taken := next_queued_partition(job.pk, last_first=True)) is not None:
                    continued = run_partition(str(job.pk), taken.index, self.submit, job, self.part)
                    if continued and self.submit is not None:
                        self.submit(taken.task_id)
                else:
                    watch.done.wait(conf.JOB_PROGRESS_INTERVAL)
        finally:
            watch.stop()
        if watch.outcome is None:
            watch.step()  # (a last look: every partition may be done by now)
        if watch.outcome is None:
            self.hand_on(snapshot)
        else:
            self.end(watch)

    def hand_on(self, snapshot: str) -> None:
        """Leave the job running for a next coordinator, submit it, and hold ``snapshot``
        until the next coordinator took it over (``JOB_SLICE_MARGIN`` / 2 at most)."""
        job, submit = self.job, self.submit
        assert submit is not None  # (a coordinator without one is not sliced: run_task)
        handed = ExportJob.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, worker=job.worker
        ).update(worker="", heartbeat_at=timezone.now())
        if not handed:
            return  # (it ended, or another worker took it: not ours to hand on)
        job.refresh_from_db(fields=["rows"])
        log(job, f"this run's time is up after {job.rows} rows; handing the job on")
        submit(str(job.pk))
        if snapshot:
            mine = ExportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, snapshot=snapshot)
            until = time.monotonic() + conf.JOB_SLICE_MARGIN / 2
            while time.monotonic() < until and mine.exists():
                time.sleep(conf.JOB_PROGRESS_INTERVAL)

    def open(self, ranges: list[Range], snapshot: str) -> None:
        """The partitions' rows, the file (its upload), the snapshot: stored on the job."""
        job, storage = self.job, job_storage()
        name, gzip = new_file_name(job)
        pieces = piece_names(FileState(name), len(ranges), conf.PARTITION_TRIES)
        sink: dict[str, Any] = {"pieces": pieces}
        if is_s3(storage):  # (the job's one upload, that every piece is parts of)
            sink.update(S3Sink(storage, name, file_headers(job, gzip)).cut())
        file = FileState(name, sink, {"crc": 0, "size": 0} if gzip else None)
        job.checkpoint = Checkpoint(file=file).as_json()
        job.snapshot, job.consistency = snapshot, SNAPSHOT if snapshot else PER_PARTITION
        ExportPartition.objects.bulk_create(
            ExportPartition(job=job, index=index, after=part.after, until=part.until)
            for index, part in enumerate(ranges)
        )
        job.save(update_fields=["checkpoint", "snapshot", "consistency"])
        total = job.total if job.total is not None else "unknown"
        read = "one snapshot" if snapshot else "each partition as it runs (per-partition)"
        log(job, f"running: {total} rows to write in {len(ranges)} partitions, read in {read}")
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

    def __init__(self, job: ExportJob, submit: Submit | None) -> None:
        super().__init__(daemon=True, name=f"watch-{job.pk}")
        self.job = ExportJob.objects.get(pk=job.pk)
        self.submit = submit
        self.outcome: JobStatus | None = None
        self.error = ""
        self.done = threading.Event()
        self.last_log = self.started = time.monotonic()
        self.rows_before = self.job.rows  # (a coordinator handed the job on: rows so far)

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
            rate = (rows - self.rows_before) / (self.last_log - self.started)
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
    """Queue ``partition`` again from its start after a failed run, or fail it when it had
    its ``PARTITION_TRIES``; only if it is still that run's (same worker, running)."""
    again = partition.tries < conf.PARTITION_TRIES
    status = PartitionStatus.QUEUED if again else PartitionStatus.FAILED
    moved = ExportPartition.objects.filter(
        pk=partition.pk, status=PartitionStatus.RUNNING, worker=partition.worker
    ).update(
        status=status,
        error=error,
        worker="",
        heartbeat_at=None,
        **FROM_THE_START,
    )
    if not moved:
        return
    job = ExportJob.objects.get(pk=partition.job_id)
    what = "retrying it" if again else "no tries left"
    log(job, f"partition {partition.index} failed (try {partition.tries}): {error}; {what}")
    if again and submit is not None:
        submit(partition.task_id)


#: A partition's progress as it is before its first run (a retry starts there again).
FROM_THE_START: dict[str, Any] = {"rows": 0, "bytes": 0, "last": None, "piece": {}}


def _claim_partition(job_id: Any, index: int) -> ExportPartition | None:
    """Take a queued partition of a running job; a new try unless it continues from a
    checkpoint (its ``piece`` half-written)."""
    worker, now = worker_name(), timezone.now()
    found = (
        ExportPartition.objects.filter(
            job_id=job_id, index=index, status=PartitionStatus.QUEUED, job__status=JobStatus.RUNNING
        )
        .values_list("pk", "tries", "piece")
        .first()
    )
    if found is None:
        return None
    pk, tries, piece = found
    claimed = ExportPartition.objects.filter(
        pk=pk, status=PartitionStatus.QUEUED, tries=tries
    ).update(
        status=PartitionStatus.RUNNING,
        tries=tries if piece else tries + 1,
        worker=worker,
        heartbeat_at=now,
    )
    return ExportPartition.objects.get(pk=pk) if claimed else None


def run_partition(
    job_id: str,
    index: int,
    submit: Submit | None,
    job: ExportJob | None = None,
    part: Slice | None = None,
) -> bool:
    """Run partition ``index`` of the job if it is queued: write its piece, then mark it
    done, or queue it again (or fail it) when that fails. True when ``part`` ended first:
    it is queued again from a checkpoint, to be submitted again."""
    partition = _claim_partition(job_id, index)
    if partition is None:
        logger.info("partition %s/%s was not queued (taken, done or stopped)", job_id, index)
        return False
    if job is None:
        job = ExportJob.objects.get(pk=job_id)
    else:  # (the coordinator's: what its partitions wrote since)
        job.refresh_from_db(fields=["checkpoint", "snapshot", "consistency"])
    progress = PartitionProgress(partition)
    progress.start()
    try:
        with timezone.override(None):
            piece, whole, at = _write_partition(job, partition, progress, part or Slice(None))
    except Stopped:
        mine = ExportPartition.objects.filter(pk=partition.pk, worker=partition.worker)
        mine.filter(status=PartitionStatus.RUNNING).update(status=PartitionStatus.CANCELLED)
        mine.update(worker="", heartbeat_at=None)
        return False
    except Exception as exc:
        logger.exception("partition %s failed", partition.task_id)
        told = str(exc) if isinstance(exc, PartitionFailed | Refusal) else describe_failure(exc)
        progress.finish()
        retry_or_fail(partition, told, submit)
        return False
    finally:
        progress.finish()
    stored = ExportPartition.objects.filter(
        pk=partition.pk, status=PartitionStatus.RUNNING, worker=partition.worker
    ).update(
        status=PartitionStatus.SUCCEEDED if whole else PartitionStatus.QUEUED,
        rows=at.rows,
        bytes=progress.bytes,
        last=at.last,
        piece=piece,
        error="",
        heartbeat_at=None,
        worker="",
    )
    if whole or not stored:
        return False
    log(job, f"partition {index}: this run's time is up after {at.rows} rows; it goes on")
    return True


def _write_partition(
    job: ExportJob, partition: ExportPartition, progress: PartitionProgress, part: Slice
) -> tuple[dict[str, Any], bool, Position]:
    """Write the partition's piece, from its checkpoint if it has one, until it is whole
    or ``part`` is over: where the piece is, whether it is whole, and where it ended."""
    saved = Checkpoint.from_json(job.checkpoint)
    if saved is None or saved.file is None:
        raise Stopped  # (its job ended: the file is gone)
    file = saved.file
    state = partition.piece if partition.continued else None
    after = partition.last if state else partition.after
    first = partition.index == 0 and not state
    export = job_export(job).piece(after, partition.until, first=first)
    count = job.partition_set.count()
    at = Position(rows=partition.rows, last=partition.last) if state else Position()

    def write() -> tuple[dict[str, Any], bool]:
        chunks = export.chunks(at)
        with closing(chunks):
            watched = _watched(chunks, at, progress)
            return write_piece(
                job_storage(),
                file,
                partition.index,
                count,
                partition.tries,
                watched,
                state,
                lambda: part.over,
            )

    return (*read_in_snapshot(job, export.content.plan.queryset.db, write), at)


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
        counted = partition.continued  # (from a checkpoint: its counts so far)
        self.rows, self.bytes = (partition.rows, partition.bytes) if counted else (0, 0)
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
