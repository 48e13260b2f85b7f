"""``manage.py export_worker``: run queued export jobs from the database, one at a time."""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from stream_exports.jobs.lifecycle import reap_stale_jobs
from stream_exports.jobs.models import ExportJob, JobStatus
from stream_exports.jobs.partitions import next_queued_partition, run_task

#: The interpreter's thread switch interval here, in seconds (Python's default is 0.005).
#: A job's export holds the GIL while it reads; its progress thread (events, heartbeats,
#: pushes) waits up to this long at every step, which would make events leave late.
SWITCH_INTERVAL = 0.001


class Command(BaseCommand):
    help = "Take queued export jobs and partitions and run them; fail jobs whose worker died."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
        parser.add_argument("--once", action="store_true", help="run what is queued, then stop")

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        sys.setswitchinterval(SWITCH_INTERVAL)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("export worker started")
        while not stopping:
            close_old_connections()
            reaped = reap_stale_jobs()
            if reaped:
                self.stdout.write(f"failed {reaped} job(s) whose worker stopped")
            queued = ExportJob.objects.filter(status=JobStatus.QUEUED).order_by("created_at")
            job_id = queued.values_list("pk", flat=True).first()
            if job_id is not None:
                self.stdout.write(f"running job {job_id}")
                run_task(str(job_id))  # claims it, or does nothing if another worker did
                continue
            if (partition := next_queued_partition()) is not None:
                self.stdout.write(f"running partition {partition.task_id}")
                run_task(partition.task_id)
                continue
            if options["once"]:
                break
            time.sleep(options["interval"])
        self.stdout.write("export worker stopped")
