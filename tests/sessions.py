"""The database sessions a server process holds, seen from outside Django, and ending one.

PostgreSQL: ``pg_stat_activity`` and ``pg_terminate_backend``. MariaDB/MySQL: the
processlist (a session holding an InnoDB transaction counts as in one) and ``KILL``.
The states use PostgreSQL's words on both: ``idle``, ``active``, ``idle in transaction``.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any
from urllib.parse import unquote, urlsplit

import psutil

__all__ = [
    "database_sessions",
    "end_session",
    "export_sessions",
    "is_mysql",
    "max_connections",
    "mysql_connection",
]

#: A MariaDB session's state in PostgreSQL's words: (sleeping?, in a transaction?) -> state.
_STATES = {
    (True, False): "idle",
    (True, True): "idle in transaction",
    (False, False): "active",
    (False, True): "active",
}


def is_mysql(db_url: str) -> bool:
    """Whether ``db_url`` is a MariaDB/MySQL database."""
    return db_url.startswith("mysql")


def mysql_connection(db_url: str) -> Any:
    """A MySQLdb connection (autocommit) to the database of ``db_url``."""
    import MySQLdb

    parts = urlsplit(db_url)
    return MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/"),
        autocommit=True,
    )


def max_connections(db_url: str) -> int:
    """How many sessions the MariaDB/MySQL server of ``db_url`` allows at once."""
    with closing(mysql_connection(db_url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT @@max_connections")
        (allowed,) = cursor.fetchone()
    return int(allowed)


def _client_ports(process: psutil.Process, db_url: str) -> list[int]:
    """The local ports of ``process``'s connections to the database server of ``db_url``."""
    port = urlsplit(db_url).port or (3306 if is_mysql(db_url) else 5432)
    return [
        c.laddr.port
        for c in process.net_connections(kind="inet")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    ]


def database_sessions(process: psutil.Process, db_url: str) -> list[tuple[int, str]]:
    """(session id, state) of each session ``process`` holds on ``db_url``'s server."""
    ports = _client_ports(process, db_url)
    if not ports:
        return []
    if not is_mysql(db_url):
        import psycopg

        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE client_port = ANY(%s)", [ports]
            ).fetchall()
        return [(pid, state) for pid, state in rows]
    with closing(mysql_connection(db_url)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT p.ID, p.COMMAND = 'Sleep', t.trx_id IS NOT NULL"
            " FROM information_schema.PROCESSLIST p"
            " LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID"
            f" WHERE SUBSTRING_INDEX(p.HOST, ':', -1) IN ({', '.join(['%s'] * len(ports))})",
            [str(port) for port in ports],
        )
        return [(id_, _STATES[bool(sleeping), bool(in_trx)]) for id_, sleeping, in_trx in cursor]


def export_sessions(process: psutil.Process, db_url: str) -> list[tuple[int, str]]:
    """The sessions ``process``'s exports hold: on PostgreSQL those not idle in its pool; on
    MariaDB/MySQL every one (Django pools none there: a session is a request's)."""
    sessions = database_sessions(process, db_url)
    return sessions if is_mysql(db_url) else [s for s in sessions if s[1] != "idle"]


def end_session(db_url: str, session_id: int) -> None:
    """Cut session ``session_id`` as a failing database would (its client sees it lost)."""
    if is_mysql(db_url):
        with closing(mysql_connection(db_url)) as conn, conn.cursor() as cursor:
            cursor.execute(f"KILL {int(session_id)}")
        return
    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [session_id])
