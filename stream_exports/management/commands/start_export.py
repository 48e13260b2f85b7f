"""``manage.py start_export <name> --user U [param=value ...]``: start a job, print its links."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stream_exports.datasets import registry
from stream_exports.job_views import job_links
from stream_exports.jobs import create_job, run_job
from stream_exports.params import ParamError
from stream_exports.runners import ThreadRunner, get_runner

from .export_url import find_user, parse_pairs


class Command(BaseCommand):
    help = "Start an export job as the given user; print its id and signed links."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.parse_args = parser.parse_intermixed_args  # name=value pairs after --user too
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="dataset name")
        parser.add_argument("params", nargs="*", help="filters and options as name=value")
        parser.add_argument("--user", required=True, help="username the job runs as")
        parser.add_argument("--base-url", default="", help="e.g. http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = registry.get(options["name"])
        if dataset is None:
            raise CommandError(f"unknown dataset {options['name']!r}.")
        user = find_user(options["user"])
        if not dataset.has_permission(user):
            raise CommandError(f"user {user.get_username()!r} may not export {dataset.name!r}.")
        try:
            job = create_job(dataset, parse_pairs(options["params"]), user)
        except ParamError as exc:
            raise CommandError(str(exc)) from None
        base = options["base_url"].rstrip("/")
        self.stdout.write(str(job.pk))
        for name, url in job_links(job, user).items():
            self.stdout.write(f"{name:9} {base}{url}")
        runner = get_runner()
        if isinstance(runner, ThreadRunner):
            # A thread would die with this command: run the job here instead.
            self.stderr.write("running the job in this process (JOB_RUNNER is ThreadRunner)")
            run_job(job.pk)
        else:
            runner.submit(str(job.pk))
