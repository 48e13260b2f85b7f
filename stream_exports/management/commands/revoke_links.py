"""``manage.py revoke_links USER [USER ...] [--reason TEXT]``: end their signed URLs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from stream_exports.links.models import revoke_links

from ._dataset_command import find_user


class Command(BaseCommand):
    help = (
        "Revoke every signed URL made for the given users until now (links made later "
        "work); SECRET_KEY stays as it is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="+", metavar="USER", help="whose links to revoke")
        parser.add_argument("--reason", default="", help="kept with the revocation")

    def handle(self, *args: Any, **options: Any) -> None:
        users = [find_user(name) for name in options["usernames"]]  # all exist, or none is done
        for user in users:
            revocation = revoke_links(user, reason=options["reason"])
            self.stdout.write(f"revoked the signed links of {user.get_username()!r}: {revocation}")
