"""``manage.py export_url <name> --user U [--expires S] [--format csv] [param=value ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.http import QueryDict
from django.urls import reverse

from stream_exports.core.formats.registry import formats
from stream_exports.core.query import ParamError, parse_export_query
from stream_exports.links.signing import sign_url

from ._dataset_command import DatasetCommand, parse_pairs


class Command(DatasetCommand):
    help = "Print a signed, expiring URL that exports a dataset as the given user."
    user_help = "username the URL acts as"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--expires", type=int, default=None, help="lifetime in seconds")
        names = [format.name for format in formats()]
        parser.add_argument("--format", choices=names, default="ndjson", help=", ".join(names))

    def handle(self, *args: Any, **options: Any) -> str:
        dataset, user = self.dataset_and_user(options)
        params = parse_pairs(options["params"])
        query = QueryDict(mutable=True)
        query.update(params)
        try:
            parse_export_query(dataset, query, options["format"])
        except ParamError as exc:
            raise CommandError(str(exc)) from None
        path = reverse(f"stream_exports:{options['format']}", args=[dataset.name])
        try:
            url = sign_url(path, user, params, options["expires"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return options["base_url"].rstrip("/") + url
