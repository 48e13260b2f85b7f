"""Jobs that write XLSX: the live export's cells, in a file that is not gzipped and is
downloaded as it is (a zip compressed again is of no use to a spreadsheet)."""

from __future__ import annotations

import io
import re
import zoneinfo

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from stream_exports.links.signing import sign_url
from stream_exports.models import ExportJob

from ..job_api import IMMEDIATE

pytestmark = pytest.mark.usefixtures("committed_jobs")

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def cells(data: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))


def test_an_xlsx_job_writes_a_workbook_that_downloads_as_it_is_and_opens(world, settings, signed):
    settings.STREAM_EXPORTS = {**IMMEDIATE, "JOB_FILE_GZIP": True}  # (the default)
    params = {"paid": "true", "limit": 1234, "labels": "1"}
    url = sign_url("/exports/orders/jobs", world["users"]["staff"], {"format": "xlsx", **params})
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):  # (a request's zone)
        answer = Client().post(url)  # (run here: ImmediateRunner)
    assert answer.status_code == 202, answer.content
    job = ExportJob.objects.get(pk=answer.json()["id"])
    assert (job.format, job.status, job.rows) == ("xlsx", "succeeded", 1234)
    assert re.fullmatch(r"stream_exports/[0-9a-f-]+\.xlsx", job.file.name)  # no .gz
    download = Client().get(
        answer.json()["links"]["download"], headers={"accept-encoding": "gzip, zstd"}
    )
    assert download.status_code == 200
    assert "Content-Encoding" not in download
    assert download["Content-Type"] == MEDIA_TYPE
    assert download["Content-Disposition"] == f'attachment; filename="orders-{job.pk}.xlsx"'
    stored = b"".join(download.streaming_content)
    assert len(stored) == job.bytes
    live = b"".join(Client().get(signed(params, format="xlsx")).streaming_content)
    rows = cells(stored)
    assert rows[0][-1] == "Order status"  # the job kept labels=1
    assert rows == cells(live)  # in TIME_ZONE (the bytes differ: each zip is dated)
    assert len(rows) == 1235
