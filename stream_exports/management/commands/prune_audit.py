"""``manage.py prune_audit [--days N] [--keep N] [--dry-run]``: delete audit records past
retention: older than the days kept, then beyond the newest rows kept."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stream_exports.audit.trail import AuditRecord
from stream_exports.conf import conf


class Command(BaseCommand):
    help = (
        "Delete audit records started more than AUDIT_RETENTION_DAYS days ago, then all but "
        "the newest AUDIT_RETENTION_ROWS (run it daily: cron, a systemd timer, an "
        "EventBridge schedule)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="keep this many days (default: the setting)"
        )
        parser.add_argument(
            "--keep",
            type=int,
            default=None,
            help="keep at most this many rows, the newest (default: the setting; 0: no bound)",
        )
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        days = conf.AUDIT_RETENTION_DAYS if options["days"] is None else options["days"]
        keep = conf.AUDIT_RETENTION_ROWS if options["keep"] is None else options["keep"]
        if days < 1:
            raise CommandError(f"--days must be 1 or more, not {days}.")
        if keep < 0:
            raise CommandError(f"--keep must be 0 (no bound) or more, not {keep}.")
        old = AuditRecord.objects.older_than(days)
        if options["dry_run"]:
            beyond = AuditRecord.objects.beyond_newest(keep, besides=old)
            self.stdout.write(
                f"{old.count()} audit records are older than {days} days, "
                f"and {beyond.count()} more beyond the newest {keep}."
            )
            return
        aged, _ = old.delete()
        many, _ = AuditRecord.objects.beyond_newest(keep).delete()
        self.stdout.write(
            f"deleted {aged} audit records older than {days} days, "
            f"and {many} beyond the newest {keep}."
        )
