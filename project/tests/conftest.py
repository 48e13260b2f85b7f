"""The demo project's tests: its own settings (``--ds=project.settings``), a test database
seeded by ``seed_demo`` with the demo user, as ``make demo`` leaves it."""

from __future__ import annotations

import json
import os
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from tests.servers import database_url

#: Enough orders for the Lambda package's 50,000-row export.
ROWS = 50_000


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    """A test database of the demo's own (a file on SQLite, for the servers), always."""
    from django.test.utils import setup_databases, teardown_databases

    suffix = os.environ.get("TEST_DB_SUFFIX", "")
    if connection.vendor == "sqlite":
        name = str(settings.BASE_DIR / f".test_db-demo{suffix}.sqlite3")
    else:
        name = f"test_stream_exports_demo{suffix.replace('-', '_')}"
    connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)


@pytest.fixture(scope="session")
def demo(django_db_setup: None, django_db_blocker: Any) -> dict[str, Any]:
    """``seed_demo``'s orders and demo user, committed for servers to see."""
    settings_dict = connection.settings_dict
    assert settings_dict["NAME"] == settings_dict["TEST"]["NAME"], "not the test database"
    with django_db_blocker.unblock(), override_settings(DEBUG=True):
        call_command("seed_demo", rows=ROWS, stdout=StringIO())
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(username="demo")
    return {"rows": ROWS, "user": user, "db_url": database_url(connection.settings_dict)}


@pytest.fixture(autouse=True)
def job_files(settings, tmp_path) -> None:
    """Job files, if any test makes one, go to a temporary directory."""
    settings.MEDIA_ROOT = tmp_path


def server_env(demo: dict[str, Any]) -> dict[str, str]:
    """The environment of a server process of the demo on its test database."""
    return {
        "DATABASE_URL": demo["db_url"],
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "STREAM_EXPORTS": json.dumps({}),
    }
