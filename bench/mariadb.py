"""The bench on MariaDB (``--mariadb-url`` / ``BENCH_MARIADB_URL``): the demo table there,
this package's export (keyset pages through the ORM) next to the MariaDB client writing
the same rows as JSON itself.

The anchor is ``mariadb --quick --batch --raw -N`` of a ``JSON_OBJECT`` per row (the same
fields, amounts as strings and timestamps as ISO 8601 like the export's): the server
writes the JSON and the client prints it as rows arrive. Each export runs in a fresh
server process and is paired with an anchor run of the same rows made just before it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from .contenders import Contender, Context, Run, row_limit, run_export
from .measure import timed
from .servers import ROOT, serve, server_env

__all__ = ["contenders", "measure_all", "prepare", "version"]

#: One row as JSON, written by MariaDB: the export's fields and forms.
JSON_ROW = (
    "JSON_OBJECT('id', id, 'customer', customer, 'email', email,"
    " 'amount', CAST(amount AS CHAR), 'quantity', quantity,"
    " 'created_at', CONCAT(DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s'),"
    " IF(MICROSECOND(created_at), CONCAT('.', LPAD(MICROSECOND(created_at), 6, '0')), ''),"
    " '+00:00'),"
    " 'paid', paid IS TRUE, 'note', note, 'data', JSON_EXTRACT(data, '$'))"
)


def client(database_url: str, *args: str) -> list[str]:
    """The ``mariadb`` command line for the database of ``database_url``."""
    parts = urlsplit(database_url)
    command = [
        "mariadb", "-h", parts.hostname or "127.0.0.1", "-P", str(parts.port or 3306),
        "-u", unquote(parts.username or "root"),
    ]  # fmt: skip
    if parts.password:
        command.append(f"-p{unquote(parts.password)}")
    return [*command, *args]


def sql(database_url: str, statement: str, database: str | None = None) -> str:
    """The output of one statement (``-N -B``), in ``database`` (default: the URL's)."""
    name = database if database is not None else urlsplit(database_url).path.lstrip("/")
    command = client(database_url, "-N", "-B", *([name] if name else []), "-e", statement)
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def dump_command(database_url: str, rows: int | None) -> list[str]:
    """The anchor: MariaDB writes each row as JSON, its client prints them as they come."""
    limit = f" LIMIT {rows}" if rows else ""
    query = f"SELECT {JSON_ROW} FROM demo_order ORDER BY id{limit}"
    name = urlsplit(database_url).path.lstrip("/")
    return client(database_url, "--quick", "--batch", "--raw", "-N", name, "-e", query)


def manage(database_url: str, *args: str) -> str:
    """``manage.py *args`` on the MariaDB database (the bench settings); its output."""
    env = {**os.environ, **server_env(database_url)}
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    done = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return done.stdout


#: The bench user, who may view and export orders (the demo's EXPORT_PERMISSION is
#: "export"); prints its id.
BENCH_USER = (
    "from django.contrib.auth.models import Permission, User; "
    "u, _ = User.objects.get_or_create(username='bench', defaults={'is_staff': True}); "
    "u.user_permissions.add("
    "*Permission.objects.filter(codename__in=['view_order', 'export_order'])); print(u.pk)"
)


#: Signed export links of the bench user for each [path, parameters] in LINKS (JSON),
#: printed as JSON: a link is bound to its user's password hash, in the MariaDB database.
BENCH_LINKS = (
    "import json; from django.contrib.auth.models import User; "
    "from stream_exports.links.signing import sign_url; "
    "u = User.objects.get(username='bench'); "
    "print(json.dumps({json.dumps([f, p], sort_keys=True): "
    "sign_url(f, u, p, expires=86400) for f, p in json.loads(LINKS)}))"
)
EXPORTS = ("/exports/orders.ndjson", "/exports/orders.csv")


def signer(database_url: str, rows: int) -> Callable[[str, dict[str, str]], str]:
    """``(path, params) -> signed "path?query"`` for the export at each size, made by
    Django on the MariaDB database (where the bench user is)."""
    params = [{}] + [{"limit": str(n)} for n in (max(rows // 10, 1), rows)]
    wanted = [[path, query] for path in EXPORTS for query in params]
    code = BENCH_LINKS.replace("LINKS", repr(json.dumps(wanted)))
    links = json.loads(manage(database_url, "shell", "-v0", "-c", code))

    def sign(path: str, query: dict[str, str]) -> str:
        return str(links[json.dumps([path, query], sort_keys=True)])

    return sign


def prepare(database_url: str, rows: int) -> None:
    """Create, migrate, seed (unless it holds exactly ``rows`` orders); make the bench user."""
    name = urlsplit(database_url).path.lstrip("/")
    sql(database_url, f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4", "")
    manage(database_url, "migrate", "--noinput", "--verbosity", "0")
    if int(sql(database_url, "SELECT COUNT(*) FROM demo_order")) != rows:
        print(f"seeding {rows:,} orders on MariaDB", flush=True)
        manage(database_url, "seed_demo", "--rows", str(rows), "--no-user")
        sql(database_url, "ANALYZE TABLE demo_order")
    manage(database_url, "shell", "-v0", "-c", BENCH_USER)


def anchor_key(rows: int) -> str:
    """The key of the MariaDB client's anchor for ``rows`` rows."""
    return f"mariadb-client-{rows}"


def ours_key(server: str, rows: int) -> str:
    """The key of this package's export on MariaDB under ``server`` at ``rows``."""
    return f"mariadb-ours-{server}-{rows}"


def csv_key(server: str, rows: int) -> str:
    """The key of this package's CSV export on MariaDB under ``server`` at ``rows``."""
    return f"mariadb-csv-{server}-{rows}"


def contenders(rows: int) -> list[Contender]:
    """The anchors, then this package's export under each server, at ROWS/10 and ROWS, and
    its CSV export of ROWS."""
    sizes = (max(rows // 10, 1), rows)
    label = "mariadb --quick JSON_OBJECT (anchor)"
    found = [Contender(anchor_key(n), label, "mariadb", n) for n in sizes]
    for server in ("gunicorn", "uvicorn"):
        for n in sizes:
            found.append(
                Contender(
                    ours_key(server, n), "stream_exports, lines by MariaDB in keyset pages",
                    "export", n, server,
                )
            )  # fmt: skip
        found.append(
            Contender(
                csv_key(server, rows), "stream_exports CSV (MariaDB)", "export", rows, server,
                format="csv",
            )
        )  # fmt: skip
    return found


def measure(contender: Contender, context: Context) -> Run:
    """One run: the client's dump read through a pipe, or the export in a fresh server."""
    if contender.kind == "mariadb":
        transfer = timed(dump_command(context.database_url, row_limit(contender, context)))
        return Run(transfer.wall, transfer.first_byte, transfer.bytes, transfer.lines, ratio=1.0)
    with serve(contender.server or "", server_env(context.database_url)) as server:
        return run_export(contender, context, server)


def measure_all(found: list[Contender], context: Context, repeat: int) -> None:
    """REPEAT rounds; each export right after an anchor run of the same rows, its ratio to
    that run taken under the same load."""
    anchors = {c.rows: c for c in found if c.kind == "mariadb"}
    for round_ in range(repeat):
        for contender in found:
            print(f"[{round_ + 1}/{repeat}] {contender.key}", flush=True)
            if contender.kind == "mariadb":
                contender.runs.append(measure(contender, context))
                continue
            paired = measure(anchors[contender.rows], context)
            anchors[contender.rows].runs.append(paired)
            run = measure(contender, context)
            run.ratio = run.wall / paired.wall
            contender.runs.append(run)
            print(
                f"    wall {run.wall:.2f} s ({run.ratio:.2f}x the client's "
                f"{paired.wall:.2f} s), first byte {(run.first_byte or 0) * 1000:.0f} ms",
                flush=True,
            )


def version(database_url: str) -> str:
    """The MariaDB server's version."""
    return sql(database_url, "SELECT VERSION()", "")
