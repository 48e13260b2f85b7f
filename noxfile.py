"""The support matrix, one command each: ``nox`` (every session) or ``nox -s <name>``.

- ``tests(python='3.x', django='x.y')``: the whole suite on one supported pair
  (SQLite; PostgreSQL and MariaDB too when DATABASE_URL / MARIADB_URL are set,
  as in ``make test``; mypy on the newest pair). Arguments after ``--`` go to pytest.
- ``subset(python='3.x', django='x.y')``: the representative subset CI runs on the
  pairs between the newest and the oldest (SUBSET below).
- ``wheel``: build the wheel and sdist, ``twine check`` them.
- ``fresh_project(python='3.x', django='x.y')``: a new Django project on that
  Django installs the wheel with a plain ``pip install`` and serves an export.

- ``newest``: the whole suite on the newest pair, on PostgreSQL (what ``make test`` runs
  once, the ``once`` and ``fuzz`` tests, is left out).

``nox -t ci`` runs what CI adds to ``make test`` (which is the oldest pair, on SQLite,
PostgreSQL and MariaDB): ``newest``, the subset on one pair per Python and per Django
between (SUBSET_PAIRS), the wheel and the fresh projects.

Virtual environments are made with uv (fast, cached). Pythons are found on PATH;
with pyenv, every installed 3.11-3.13 is made visible (PYENV_VERSION).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).parent

#: Every supported (Python, Django) pair. Django 6.x needs Python 3.12 or newer.
PAIRS = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.13", "5.2"),
    ("3.12", "6.0"),
    ("3.13", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "6.1"),
]
NEWEST, OLDEST = PAIRS[-1], PAIRS[0]
#: The pairs between that CI runs the subset on: each Python and each Django at least once.
SUBSET_PAIRS = [("3.13", "5.2"), ("3.12", "6.0"), ("3.12", "6.1")]
#: One pair per Django, for the wheel check: the oldest Python each Django takes... and
#: the newest for the newest Django.
FRESH = [("3.11", "5.2"), ("3.12", "6.0"), ("3.13", "6.1")]

#: What the pairs in between run: every module that touches Django's API (admin,
#: responses under both handlers, jobs, checks, migrations), and the real servers.
SUBSET = [
    "tests/core",
    "tests/http",
    "tests/jobs",
    "tests/admin",
    "tests/aws",
    "tests/test_checks.py",
    "tests/test_conf.py",
    "tests/test_middleware.py",
    "tests/test_migrations.py",
    "tests/test_models.py",
    "tests/integration/test_servers.py",
    "tests/integration/test_stream_records.py",
]


def _pyenv_pythons() -> None:
    """Make every pyenv Python 3.11-3.13 callable as ``python3.x`` (if pyenv is here).

    pyenv's shim sets PYENV_VERSION to the one version that runs nox; add the others."""
    if not shutil.which("pyenv"):
        return
    versions = subprocess.run(
        ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    chosen = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v]
    wanted = [v for v in versions if v.startswith(("3.11.", "3.12.", "3.13."))]
    os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys([*chosen, *wanted]))


_pyenv_pythons()
# Servers the tests start import Django at once: with no bytecode written at install (uv's
# default) and PYTHONDONTWRITEBYTECODE set, each would compile it all again.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")


def _install(session: nox.Session, django: str) -> None:
    extras = "test,mysql" if os.environ.get("MARIADB_URL") else "test"
    session.install("-e", "./client", "-e", f".[{extras}]", f"Django~={django}.0")


#: As ``make test``: a pytest-xdist worker a core, the load tests after them, alone.
PARALLEL = ["-n", "auto", "--maxprocesses", "4", "--dist", "loadscope", "-m", "not load"]
DEMO_TESTS = ["project/tests", "--ds=project.settings"]


def _own_databases(session: nox.Session) -> dict[str, str]:
    """A test database name of the session's own, so that sessions may share a server."""
    name = re.sub(r"[^a-z0-9]+", "_", session.name.replace(".", "")).strip("_")
    return {"TEST_DB_SUFFIX": f"-{name}"[:40]}


def _pytest(session: nox.Session, *args: str) -> None:
    """The suite as ``make test`` runs it: SQLite, then each database configured, then the
    demo project's tests (exit code 5, no test selected, passes the load tests)."""
    env = _own_databases(session)
    session.run("pytest", *PARALLEL, *args, env={**env, "DATABASE_URL": None})
    session.run("pytest", *DEMO_TESTS, env={**env, "DATABASE_URL": None})
    for url in (os.environ.get("DATABASE_URL"), os.environ.get("MARIADB_URL")):
        if url:
            url_env = {**env, "DATABASE_URL": url}
            session.run("pytest", *PARALLEL, *args, env=url_env)
            session.run("pytest", "-m", "load", *args, env=url_env, success_codes=[0, 5])
            session.run("pytest", *DEMO_TESTS, env=url_env)


@nox.session
@nox.parametrize("python,django", PAIRS)
def tests(session: nox.Session, django: str) -> None:
    """The whole suite on one (Python, Django) pair; types too on the newest."""
    _install(session, django)
    if (session.python, django) == NEWEST:
        session.run("mypy")
    _pytest(session, *session.posargs)


@nox.session(python=NEWEST[0], tags=["ci"])
def newest(session: nox.Session) -> None:
    """The whole suite on the newest pair on PostgreSQL (DATABASE_URL), and its types; the
    load tests (a minute, each version's server behaviour tested by the rest) in make test
    and ``nox -s tests`` only, which keeps CI under 30 minutes."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        session.error("newest runs on PostgreSQL: set DATABASE_URL to a postgres:// URL")
    _install(session, NEWEST[1])
    session.run("mypy")
    env = {**_own_databases(session), "DATABASE_URL": url}
    again = [*PARALLEL[:-1], "not load and not once and not fuzz"]
    session.run("pytest", *again, *session.posargs, env=env)
    session.run("pytest", *DEMO_TESTS, "-m", "not once", env=env)


@nox.session
@nox.parametrize(
    "python,django", [nox.param(*p, tags=["ci"] * (p in SUBSET_PAIRS)) for p in PAIRS[1:-1]]
)
def subset(session: nox.Session, django: str) -> None:
    """The representative subset, on SQLite."""
    _install(session, django)
    env = _own_databases(session)
    session.run("pytest", *PARALLEL, *SUBSET, *session.posargs, env={**env, "DATABASE_URL": None})


@nox.session(python=NEWEST[0], tags=["ci"])
def wheel(session: nox.Session) -> None:
    """Build the wheel and sdist into dist/ and check them with twine."""
    session.install("build", "twine")
    shutil.rmtree(ROOT / "dist", ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", "dist", ".")
    session.run("twine", "check", "--strict", *map(str, (ROOT / "dist").iterdir()))


@nox.session(tags=["ci"])
@nox.parametrize("python,django", FRESH)
def fresh_project(session: nox.Session, django: str) -> None:
    """A new project on ``django`` installs the built wheel, unpinned, and serves an export."""
    wheels = sorted((ROOT / "dist").glob("stream_exports-*.whl"))
    if not wheels:
        session.error("no wheel in dist/: run `nox -s wheel` first")
    # The project's own Django first, as a project that is on it has; then the wheel,
    # with no version forced: pip must keep that Django.
    session.install("--reinstall", f"Django~={django}.0")
    session.install(str(wheels[-1]))
    session.run("python", str(ROOT / "tests" / "packaging" / "fresh_project.py"), django)
