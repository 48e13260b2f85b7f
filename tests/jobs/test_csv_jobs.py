"""Jobs that write CSV: the live CSV export's bytes, in slices too, refused formats named."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from stream_exports.links.signing import sign_url
from stream_exports.models import ExportJob

from ..job_api import IMMEDIATE, get

pytestmark = pytest.mark.usefixtures("committed_jobs")


def start_csv(world, settings, params: dict) -> dict:
    settings.STREAM_EXPORTS = IMMEDIATE
    url = sign_url("/exports/orders/jobs", world["users"]["staff"], {"format": "csv", **params})
    response = Client().post(url)
    assert response.status_code == 202, response.content
    return response.json()


def live_csv(world, params: dict) -> bytes:
    path = reverse("stream_exports:csv", args=["orders"])
    return b"".join(Client().get(sign_url(path, world["users"]["staff"], params)).streaming_content)


def test_a_csv_job_writes_the_live_csv_exports_bytes(world, settings):
    params = {"paid": "true", "limit": 2345, "bom": "1"}
    body = start_csv(world, settings, params)
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.format, job.status, job.rows) == ("csv", "succeeded", 2345)
    assert job.file.name.endswith(".csv.gz")
    download = get(body["links"]["download"])
    assert download["Content-Type"] == "text/csv; charset=utf-8; header=present"
    assert b"".join(download.streaming_content) == live_csv(world, params)


def test_a_job_in_an_unknown_format_is_refused_naming_it(world, settings):
    url = sign_url("/exports/orders/jobs", world["users"]["staff"], {"format": "ods"})
    response = Client().post(url)
    assert response.status_code == 400
    assert response.json()["param"] == "format"
    assert "'ods' is no format; give one of ndjson, csv, xlsx." in response.json()["error"]
