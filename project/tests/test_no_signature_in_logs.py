"""The demo, served as ``make demo`` serves it (uvicorn, ``DEBUG`` on) and by gunicorn, each
with its access log on and every logger at DEBUG (SQL too): a whole session of signed links
leaves no ``sig`` value in the log, the database or the admin's pages."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from stream_exports.models import AuditRecord, ExportJob, JobLogLine
from tests import security_session
from tests.servers import run_server

from .conftest import server_env

APPS = {"uvicorn": "project.asgi:application", "gunicorn": "project.wsgi"}


@pytest.mark.servers
@pytest.mark.parametrize("kind", list(APPS))
def test_a_demo_session_writes_no_sig_value_anywhere(kind, demo, django_db_blocker, tmp_path):
    env = {**server_env(demo), "DJANGO_SETTINGS_MODULE": "project.settings"}
    env.update(DJANGO_LOG_LEVEL="DEBUG", DJANGO_DEBUG="1")  # (as make demo: every SQL logged)
    with django_db_blocker.unblock():
        client = Client()
        client.force_login(demo["user"])
        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
    options = {"app": APPS[kind], "access_log": True, "debug": True}
    with run_server(kind, env, tmp_path, **options) as running:
        session = security_session.run(security_session.Session(running.url, demo["user"]), cookie)
    with django_db_blocker.unblock():
        written = "\n".join(
            [
                *JobLogLine.objects.values_list("message", flat=True),
                *(str(params) for params in ExportJob.objects.values_list("params", flat=True)),
                *(str(row.as_record()) for row in AuditRecord.objects.all()),
            ]
        )
    log = running.log.read_text(errors="replace")
    assert "sig=[hidden]" in log and "DEBUG django.db.backends: (" in log
    for form in session.forms():
        assert form not in log, "a sig value in the log"
        assert form not in written, "a sig value in the database"
        assert not any(form in page for page in session.pages), "a sig value in the admin"
