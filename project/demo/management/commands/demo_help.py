"""``manage.py demo_help --base-url URL``: what to open and which ``curl -N`` lines to try."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.urls import reverse

from project.demo.management.commands.seed_demo import DEMO_EMAIL, DEMO_USER
from stream_exports.links.signing import sign_url


class Command(BaseCommand):
    help = "Print the demo's URLs and curl lines (with signed URLs for the demo user)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def signed(self, base: str, *params: str, format: str = "ndjson") -> str:
        return call_command(
            "export_url", "orders", *params, format=format, user=DEMO_USER[0], base_url=base,
            stdout=StringIO(),
        )  # fmt: skip

    def job_url(self, base: str) -> str:
        user = get_user_model()._default_manager.get_by_natural_key(DEMO_USER[0])
        return base + sign_url(reverse("stream_exports:jobs", args=["orders"]), user)

    def handle(self, *args: Any, **options: Any) -> None:
        base = options["base_url"].rstrip("/")
        user, password = DEMO_USER
        excel = self.signed(base, "paid=true", "labels=1", format="xlsx")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"Open {base}/admin/  (user {user}, password {password})",
                    f"     {base}/exports/  (the datasets, once signed in)",
                    "",
                    "Try (signed URLs, valid for an hour):",
                    f"  curl -N '{self.signed(base, 'limit=5')}'",
                    f"  curl -N '{self.signed(base, 'paid=true', 'min_amount=90000')}' | head -n 3",
                    f"  curl -sN '{self.signed(base)}' | tail -n 1",
                    f"  curl -N '{self.signed(base, 'fields=id,note', 'limit=20')}'",
                    "",
                    "The same rows in Excel, headers and choices as people read them:",
                    f"  curl -o orders.xlsx '{excel}'",
                    "",
                    "Start a background job, then follow the log and events links it answers with:",
                    f"  curl -s -X POST '{self.job_url(base)}'",
                    "  curl -N '<links.log>'    curl -N '<links.events>'",
                    f"  (or in the admin: {base}/admin/demo/order/ > Export > In the background)",
                    f"When it ends, its mail to {DEMO_EMAIL} prints in this server's output.",
                    "",
                    "A link leaked? End every link of the user's made until now, in one step:",
                    f"  .venv/bin/python manage.py revoke_links {user} --reason 'pasted in a chat'",
                    f"  (or in the admin: {base}/admin/auth/user/, the action that revokes links)",
                    f"Who exported what, when: {base}/admin/stream_exports/auditrecord/",
                    "",
                ]
            )
        )
