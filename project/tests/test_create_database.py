"""``manage.py create_database``: ``make demo`` on a server that lacks the demo's database."""

from __future__ import annotations

import os
import subprocess
from contextlib import closing
from typing import Any

import pytest

from tests.servers import ROOT, manage
from tests.sessions import is_mysql, mysql_connection


def run_sql(db_url: str, statement: str) -> list[tuple[Any, ...]]:
    """``statement``'s rows, run outside any transaction on the database of ``db_url``."""
    if is_mysql(db_url):
        with closing(mysql_connection(db_url)) as conn, conn.cursor() as cursor:
            cursor.execute(statement)
            return list(cursor.fetchall())
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def test_it_creates_the_missing_database_once(demo):
    url = demo["db_url"]
    if url.startswith("sqlite"):
        pytest.skip("SQLite makes its file itself")
    suffix = os.environ.get("TEST_DB_SUFFIX", "").replace("-", "_")
    name = f"test_stream_exports_created{suffix}"
    listing = "SHOW DATABASES" if is_mysql(url) else "SELECT datname FROM pg_database"
    env = {
        **os.environ,
        "DATABASE_URL": url.rsplit("/", 1)[0] + f"/{name}",
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }
    assert (name,) not in run_sql(url, listing)
    try:
        for _ in range(2):  # the second time it is there already
            subprocess.run(manage("create_database"), cwd=ROOT, env=env, check=True)
            assert (name,) in run_sql(url, listing)
        # A database the demo migrates into.
        subprocess.run(manage("migrate", "-v0"), cwd=ROOT, env=env, check=True)
    finally:
        run_sql(url, f"DROP DATABASE IF EXISTS {name}")
