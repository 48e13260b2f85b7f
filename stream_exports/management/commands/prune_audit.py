"""``manage.py prune_audit [--days N] [--dry-run]``: delete audit records past retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stream_exports.conf import conf
from stream_exports.models import AuditRecord


class Command(BaseCommand):
    help = (
        "Delete audit records started more than AUDIT_RETENTION_DAYS days ago "
        "(run it daily: cron, a systemd timer, an EventBridge schedule)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="keep this many days (default: the setting)"
        )
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        days = conf.AUDIT_RETENTION_DAYS if options["days"] is None else options["days"]
        if days < 1:
            raise CommandError(f"--days must be 1 or more, not {days}.")
        old = AuditRecord.objects.older_than(days)
        if options["dry_run"]:
            self.stdout.write(f"{old.count()} audit records are older than {days} days.")
            return
        deleted, _ = old.delete()
        self.stdout.write(f"deleted {deleted} audit records older than {days} days.")
