"""``manage.py demo_help``: what to open, and ``curl -N`` lines that work."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from project.demo.management.commands.seed_demo import ensure_demo_user

pytestmark = pytest.mark.django_db


def test_demo_help_prints_working_curl_lines(settings, demo):
    settings.DEBUG = True
    ensure_demo_user()
    out = StringIO()
    call_command("demo_help", base_url="http://127.0.0.1:8000", stdout=out)
    urls = [line.split("'")[1] for line in out.getvalue().splitlines() if "curl -N 'http" in line]
    assert len(urls) == 3
    for url in urls:
        response = Client().get(url.removeprefix("http://127.0.0.1:8000"))
        assert response.status_code == 200, url
    (xlsx_line,) = [line for line in out.getvalue().splitlines() if "curl -o orders.xlsx" in line]
    workbook = Client().get(xlsx_line.split("'")[1].removeprefix("http://127.0.0.1:8000"))
    assert workbook.status_code == 200
    assert b"".join(workbook.streaming_content).startswith(b"PK\x03\x04")
    (job_line,) = [line for line in out.getvalue().splitlines() if "-X POST" in line]
    job = Client().post(job_line.split("'")[1].removeprefix("http://127.0.0.1:8000"))
    assert job.status_code == 202

    (revoke_line,) = [line for line in out.getvalue().splitlines() if "revoke_links" in line]
    call_command(*revoke_line.split("manage.py ")[1].split(" ", 2)[:2], stdout=StringIO())
    for url in urls:  # the links printed before are ended
        response = Client().get(url.removeprefix("http://127.0.0.1:8000"))
        assert response.status_code == 403, url
        assert "revoked" in response.json()["error"]
