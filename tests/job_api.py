"""Jobs through the HTTP API with Django's test client: started, or run to their end."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from django.urls import reverse

from stream_exports.links.signing import sign_url
from stream_exports.models import ExportJob

IMMEDIATE = {
    "JOB_RUNNER": "stream_exports.runners.ImmediateRunner",
    "CHUNK_SIZE": 500,
    "COPY_FAST_PATH": False,  # the ORM path, where a failure can be injected
}
QUEUE_ONLY = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}


def start(world: dict[str, Any], params: dict[str, Any] | None = None, user: str = "staff"):
    """POST a signed job URL (the configured runner takes it from there)."""
    url = sign_url("/exports/orders/jobs", world["users"][user], params or {})
    return Client().post(url)


def run_started(world, settings, params=None, user="staff"):
    """Start a job and run it to its end before answering (ImmediateRunner)."""
    settings.STREAM_EXPORTS = IMMEDIATE
    response = start(world, params, user)
    settings.STREAM_EXPORTS = QUEUE_ONLY
    assert response.status_code == 202, response.content
    return response.json()


def get(path: str) -> Any:
    return Client().get(path)


def downloaded_ids(job: ExportJob) -> list[int]:
    """The ids in the job's file as its owner downloads it (the trailer left out)."""
    url = sign_url(reverse("stream_exports:job-download", args=[job.pk]), job.owner)
    lines = b"".join(Client().get(url).streaming_content).splitlines()
    return [json.loads(line)["id"] for line in lines[:-1]]
