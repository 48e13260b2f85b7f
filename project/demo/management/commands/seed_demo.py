"""``manage.py seed_demo --rows N [--seed S]``: demo orders and the demo staff user."""

from __future__ import annotations

import time
from itertools import islice
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from project.demo.models import Order
from project.demo.seed import COLUMNS, order_rows

DEMO_USER = ("demo", "demo")
DEMO_EMAIL = "demo@example.com"


def copy_rows(rows: int, seed: int) -> None:
    """PostgreSQL: COPY the rows in (a million in seconds)."""
    from psycopg.types.json import Jsonb

    table = Order._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")
        with cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in order_rows(rows, seed):
                copy.write_row((*row[:-1], Jsonb(row[-1])))


def insert_rows(rows: int, seed: int, batch: int = 5000) -> None:
    """Other databases: executemany in batches, values prepared by the model's fields."""
    table = connection.ops.quote_name(Order._meta.db_table)
    if connection.vendor == "mysql":  # MariaDB deletes a million rows in ~20 s, truncates in 1
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")
    else:
        Order.objects.all().delete()
    db = connections[DEFAULT_DB_ALIAS]  # the object itself: the proxy is slow per call
    fields = [Order._meta.get_field(name) for name in COLUMNS]
    plain = (int, str, bool, type(None))
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    source = order_rows(rows, seed)
    with connection.cursor() as cursor:
        while chunk := list(islice(source, batch)):
            cursor.executemany(
                sql,
                [
                    [
                        v if isinstance(v, plain) else f.get_db_prep_save(v, db)
                        for f, v in zip(fields, row, strict=True)
                    ]
                    for row in chunk
                ],
            )


def ensure_demo_user() -> None:
    """Staff user demo/demo (demo@example.com, where job mails go) who may view and export
    orders (and see their jobs and audit trail). Never with DEBUG off."""
    if not settings.DEBUG:
        raise CommandError("refusing to create the demo user (password 'demo') with DEBUG off.")
    username, password = DEMO_USER
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = True
    user.email = DEMO_EMAIL
    user.set_password(password)
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["demo", "stream_exports"])
    )


class Command(BaseCommand):
    help = "Replace demo orders with N deterministic rows and create staff user demo/demo."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=200_000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-user", action="store_true", help="do not create the demo user")

    def handle(self, *args: Any, **options: Any) -> None:
        rows, seed = options["rows"], options["seed"]
        if rows < 0:
            raise CommandError("--rows must be 0 or more.")
        if not options["no_user"]:
            ensure_demo_user()
        started = time.perf_counter()
        with transaction.atomic():
            if connection.vendor == "postgresql":
                copy_rows(rows, seed)
            else:
                insert_rows(rows, seed)
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [Order]):
                    cursor.execute(sql)
        elapsed = time.perf_counter() - started
        self.stdout.write(f"seeded {rows} orders (seed {seed}) in {elapsed:.1f} s")
