"""Who may do what: every endpoint against every kind of caller."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from stream_exports.models import ExportJob

CALLERS = ["anonymous", "plain", "staff_without_perm", "staff", "superuser"]


@pytest.fixture(scope="module")
def job(world, django_db_blocker) -> ExportJob:
    """A finished job owned by "staff" (committed: jobs are read across requests)."""
    from stream_exports.core.datasets import registry
    from stream_exports.jobs.lifecycle import create_job
    from stream_exports.jobs.worker import run_job

    with django_db_blocker.unblock():
        job = create_job(registry.get("orders"), {"limit": "5"}, world["users"]["staff"])
        run_job(job.pk)
        job.refresh_from_db()
        yield job
        job.delete()


def client_for(world: dict[str, Any], caller: str) -> Client:
    client = Client()
    if caller != "anonymous":
        client.force_login(world["users"][caller])
    return client


# Expected status per endpoint, for the callers in CALLERS' order (a dataset one may not
# export is answered as an unknown one: 404).
EXPECTED = {
    "GET /exports/": (401, 200, 200, 200, 200),
    "GET /exports/orders.ndjson": (401, 404, 404, 200, 200),
    "POST /exports/orders/jobs": (401, 404, 404, 202, 202),
    "GET /exports/jobs/{id}": (401, 404, 404, 200, 200),
    "GET /exports/jobs/{id}/events": (401, 404, 404, 200, 200),
    "GET /exports/jobs/{id}/log": (401, 404, 404, 200, 200),
    "GET /exports/jobs/{id}/download": (401, 404, 404, 200, 200),
    "POST /exports/jobs/{id}/cancel": (401, 404, 404, 409, 409),
    "GET /admin/stream_exports/exportjob/{id}/change/": (302, 302, 404, 200, 200),
    "GET /admin/testapp/order/export/": (302, 302, 403, 200, 200),  # the export dialog
    "POST /admin/testapp/order/export/": (302, 302, 403, 200, 200),  # (no choice: the dialog)
    # Lambda Web Adapter's pass-through path: never reachable as a web request.
    "POST /events": (403, 403, 403, 403, 403),
}


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", list(EXPECTED))
def test_access_matrix(world, job, settings, endpoint, caller):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    method, path = endpoint.split(" ")
    path = path.format(id=job.pk)
    client = client_for(world, caller)
    response = client.get(path) if method == "GET" else client.post(path)
    response.close()  # streams count against the caps until closed
    expected = EXPECTED[endpoint][CALLERS.index(caller)]
    assert response.status_code == expected, response.content[:200]
    if response.status_code >= 400 and not path.startswith("/admin/"):
        assert response.json()["error"]
    if response.status_code == 200 and endpoint == "GET /exports/":
        visible = [d["name"] for d in response.json()]
        assert visible == (["orders"] if caller in ("staff", "superuser") else [])
