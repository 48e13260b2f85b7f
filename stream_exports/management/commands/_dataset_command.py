"""What ``export_url`` and ``start_export`` share: a dataset, a user, name=value pairs."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from stream_exports.core.datasets import Dataset, ExportNotAllowed, UnknownDataset, registry


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


class DatasetCommand(BaseCommand):
    """``<name> [param=value ...] --user U [--base-url URL]``, checked before ``handle``."""

    user_help = "username to act as"

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # name=value pairs after --user too. This parser's own parse_args, on purpose: Django
        # builds the parser, so its class cannot be chosen.
        parser.parse_args = parser.parse_intermixed_args  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="dataset name (GET /exports/ lists them)")
        parser.add_argument("params", nargs="*", help="filters and options as name=value")
        parser.add_argument("--user", required=True, help=self.user_help)
        parser.add_argument("--base-url", default="", help="e.g. http://127.0.0.1:8000")

    def dataset_and_user(self, options: dict[str, Any]) -> tuple[Dataset, Any]:
        """The named dataset and the user, who must be allowed to export it."""
        user = find_user(options["user"])
        try:
            return registry.allowed(options["name"], user), user
        except UnknownDataset as exc:
            known = ", ".join(d.name for d in registry)
            raise CommandError(f"{exc}; known: {known}.") from None
        except ExportNotAllowed as exc:
            raise CommandError(
                f"user {user.get_username()!r} may not export {exc.name!r}."
            ) from None
