"""``manage.py export_url <name> --user U [--expires S] [param=value ...]``: a signed export URL."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import QueryDict
from django.urls import reverse

from stream_exports.access import sign_url
from stream_exports.datasets import registry
from stream_exports.params import ParamError, parse_export_query


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``["paid=true", "limit=10"]`` as a dict; ``CommandError`` for a pair without '='."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"{pair!r} is not name=value (e.g. paid=true).")
        params[key] = value
    return params


def find_user(username: str) -> Any:
    """The user by username; ``CommandError`` when there is none."""
    user_model = get_user_model()
    try:
        return user_model._default_manager.get_by_natural_key(username)
    except user_model.DoesNotExist:
        raise CommandError(f"no user {username!r}.") from None


class Command(BaseCommand):
    help = "Print a signed, expiring URL that exports a dataset as the given user."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.parse_args = parser.parse_intermixed_args  # name=value pairs after --user too
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="dataset name (GET /exports/ lists them)")
        parser.add_argument("params", nargs="*", help="filters and options as name=value")
        parser.add_argument("--user", required=True, help="username the URL acts as")
        parser.add_argument("--expires", type=int, default=None, help="lifetime in seconds")
        parser.add_argument("--base-url", default="", help="e.g. http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> str:
        dataset = registry.get(options["name"])
        if dataset is None:
            known = ", ".join(d.name for d in registry)
            raise CommandError(f"unknown dataset {options['name']!r}; known: {known}.")
        user = find_user(options["user"])
        if not dataset.has_permission(user):
            raise CommandError(f"user {user.get_username()!r} may not export {dataset.name!r}.")
        params = parse_pairs(options["params"])
        query = QueryDict(mutable=True)
        query.update(params)
        try:
            parse_export_query(dataset, query)
        except ParamError as exc:
            raise CommandError(str(exc)) from None
        path = reverse("stream_exports:ndjson", args=[dataset.name])
        try:
            url = sign_url(path, user, params, options["expires"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return options["base_url"].rstrip("/") + url
