"""``manage.py start_export <name> --user U [param=value ...]``: start a job, print its links."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.urls import get_script_prefix

from stream_exports.core.query import ParamError
from stream_exports.http.job_views import job_links
from stream_exports.jobs.lifecycle import create_job
from stream_exports.runners.base import get_runner, run_and_continue
from stream_exports.runners.local import ThreadRunner

from ._dataset_command import DatasetCommand, parse_pairs


class Command(DatasetCommand):
    help = "Start an export job as the given user; print its id and signed links."
    user_help = "username the job runs as"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--no-notify", action="store_true", help="no mail to the user when the job ends"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dataset, user = self.dataset_and_user(options)
        base = options["base_url"].rstrip("/")
        try:
            params = parse_pairs(options["params"])
            job = create_job(
                dataset,
                params,
                user,
                origin={"via": "command"},
                notify=not options["no_notify"],
                site=base + get_script_prefix() if base else "",
            )
        except ParamError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(str(job.pk))
        for name, url in job_links(job, user).items():
            self.stdout.write(f"{name:9} {base}{url}")
        runner = get_runner()
        if isinstance(runner, ThreadRunner):
            # A thread would die with this command: run the job here instead.
            self.stderr.write("running the job in this process (JOB_RUNNER is ThreadRunner)")
            run_and_continue(str(job.pk))
        else:
            runner.submit(str(job.pk))
