"""``manage.py create_database``: create the database ``DATABASE_URL`` names unless it exists.

For ``make demo`` on a fresh server: MariaDB/MySQL (``CHARACTER SET utf8mb4``, for
emoji) and PostgreSQL; SQLite makes its file itself.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection


def create_mysql(name: str) -> None:
    """``CREATE DATABASE IF NOT EXISTS``, connected as Django would be, to no database."""
    import MySQLdb

    params = {k: v for k, v in connection.get_connection_params().items() if k != "database"}
    with closing(MySQLdb.connect(**params)) as db, db.cursor() as cursor:
        quoted = connection.ops.quote_name(name)
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {quoted} CHARACTER SET utf8mb4")


def create_postgresql(name: str) -> None:
    """``CREATE DATABASE`` unless ``pg_database`` has it, from the ``postgres`` database."""
    import psycopg

    settings = connection.settings_dict
    params = {
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
        "user": settings["USER"] or None,
        "password": settings["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")


class Command(BaseCommand):
    help = "Create the database DATABASE_URL names unless it exists (MariaDB/MySQL, PostgreSQL)."
    # Not before it: Django 6.1's model checks ask a MariaDB/MySQL database for its settings.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        create = {"mysql": create_mysql, "postgresql": create_postgresql}.get(connection.vendor)
        if create is not None:
            create(connection.settings_dict["NAME"])
