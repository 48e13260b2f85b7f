"""Job files straight to storage: gzip whose state a checkpoint carries, S3 multipart
uploads on a real S3 API (moto's server on loopback), slices that continue each other,
downloads that skip the app, and nothing half-written left behind."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.awsrequest import AWSResponse
from django.test import Client
from django.urls import reverse

from stream_exports.jobs.files import GzipWriter
from stream_exports.jobs.lifecycle import reap_stale_jobs
from stream_exports.links.signing import sign_url
from stream_exports.models import ExportJob, JobLogLine
from stream_exports.runners.on_lambda import LambdaRunner, job_id_from_event

from .. import s3
from ..job_api import get, start
from ..servers import ROOT, server_env
from ..spreadsheets import count_rows
from ..testapp.seed import seed

pytestmark = pytest.mark.usefixtures("committed_jobs")

#: Orders while this module runs: about 30 MB as NDJSON, three of S3's 10-MiB parts.
ROWS = 100_000
#: gzip that stores, not compresses: a slice ends only at a part (5 MiB or more of gzip),
#: and the rows would compress to one.
STORED = {"GZIP_LEVEL": 0}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module", autouse=True)
def rows(world, django_db_blocker) -> Iterator[int]:
    """The test orders and more, up to ROWS, until this module ends: parts and slices of
    files need more bytes than the other tests' exports do."""
    with django_db_blocker.unblock():
        seed(ROWS, keep=world["rows"])
    yield ROWS
    with django_db_blocker.unblock():
        seed(world["rows"], keep=world["rows"])


def test_gzip_continued_by_a_new_writer_from_its_crc_and_size_is_one_whole_stream():
    lines = [b'{"id":%d,"note":"%s"}\n' % (n, b"x" * (n % 50)) for n in range(5000)]
    first = GzipWriter(1)
    out = b"".join(first.write(line) for line in lines[:2000]) + first.flush()
    second = GzipWriter(1, first.crc, first.size)  # another process, from the checkpoint
    out += b"".join(second.write(line) for line in lines[2000:]) + second.finish()
    assert gzip.decompress(out) == b"".join(lines)
    assert zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(out) == b"".join(lines)


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory) -> Any:
    with s3.moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture
def s3_jobs(settings, s3_endpoint, monkeypatch) -> dict[str, str]:
    """Job files in a new bucket of S3 on loopback."""
    bucket = s3.new_bucket(s3_endpoint)
    settings.STORAGES = s3.storages_setting(s3_endpoint, bucket)
    for name, value in s3.ENV.items():
        monkeypatch.setenv(name, value)
    return {"endpoint": s3_endpoint, "bucket": bucket}


def run_with(world, settings, params: dict[str, Any] | None = None, **stream_exports: Any):
    """Start a job with these settings and run it to its end (or its last slice)."""
    settings.STREAM_EXPORTS = {
        "JOB_RUNNER": "stream_exports.runners.ImmediateRunner",
        "JOB_STORAGE": "jobs",
        **stream_exports,
    }
    response = start(world, params)
    assert response.status_code == 202, response.content
    return response.json()


def live_export(signed, params: dict[str, Any] | None = None) -> bytes:
    return b"".join(Client().get(signed(params or {})).streaming_content)


def no_temporary_files(monkeypatch) -> None:
    """Any temporary file made from here on fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a temporary file was made")

    for name in ("NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)


def test_a_job_on_s3_is_uploaded_in_parts_with_no_local_copy(
    world, rows, settings, signed, s3_jobs, monkeypatch
):
    no_temporary_files(monkeypatch)
    body = run_with(world, settings)
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.status, job.rows) == ("succeeded", rows)
    objects = s3.client(s3_jobs["endpoint"]).list_objects_v2(Bucket=s3_jobs["bucket"])
    (stored,) = objects["Contents"]
    assert stored["Key"] == f"stream_exports/{job.pk}.ndjson.gz"
    assert stored["ETag"].strip('"').rsplit("-", 1)[1].isdigit()  # a multipart upload's ETag
    head = s3.client(s3_jobs["endpoint"]).head_object(Bucket=s3_jobs["bucket"], Key=stored["Key"])
    assert head["ContentType"] == "application/x-ndjson; charset=utf-8"
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentDisposition"] == f'attachment; filename="orders-{job.pk}.ndjson"'
    uploads = s3.client(s3_jobs["endpoint"]).list_multipart_uploads(Bucket=s3_jobs["bucket"])
    assert not uploads.get("Uploads")
    assert job.bytes == len(live_export(signed))


def test_the_download_is_a_redirect_that_requests_and_curl_follow_to_the_same_rows(
    world, settings, signed, s3_jobs, audited
):
    body = run_with(world, settings, {"limit": 20000})
    response = get(body["links"]["download"])
    assert response.status_code == 302
    [download] = audited(kind="download")  # (S3 sends the bytes: the rows are the job's)
    assert (download.outcome, download.status, download.rows) == ("complete", 302, 20000)
    assert response["Location"].startswith(s3_jobs["endpoint"] + "/")
    assert "Signature=" in response["Location"] and "Expires=" in response["Location"]
    live = live_export(signed, {"limit": 20000})
    assert requests.get(response["Location"], timeout=30).content == live
    curl = subprocess.run(
        ["curl", "-sSL", "--compressed", response["Location"]], capture_output=True, check=True
    )
    assert curl.stdout == live


def test_a_job_in_slices_continues_from_its_checkpoints_into_one_whole_file(
    world, rows, settings, signed, s3_jobs
):
    body = run_with(world, settings, JOB_SLICE_SECONDS=0.2, **STORED)
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.status, job.rows, job.checkpoint) == ("succeeded", rows, {})
    log = list(JobLogLine.objects.filter(job=job).values_list("message", flat=True))
    slices = [line for line in log if line.startswith("continuing after")]
    assert len(slices) >= 1
    location = get(body["links"]["download"])["Location"]
    assert requests.get(location, timeout=30).content == live_export(signed)


class LambdaQueue:
    """The Lambda service's asynchronous queue for one function, seen through boto3: the
    real client serializes each ``Invoke`` against the service model; its payload is kept
    and answered 202, as Lambda does, then delivered to ``/events`` like the adapter does."""

    def __init__(self) -> None:
        import boto3

        self.client = boto3.client(
            "lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.payloads: list[bytes] = []
        self.client.meta.events.register("before-send.lambda.Invoke", self.accept)

    def accept(self, request: Any, **kwargs: Any) -> AWSResponse:
        assert request.headers["X-Amz-Invocation-Type"] == b"Event"
        self.payloads.append(bytes(request.body))
        return AWSResponse(request.url, 202, {}, None)

    def deliver(self, seconds: float, most: int = 500) -> int:
        """Run queued invocations, each with ``seconds`` to its deadline; how many ran
        (``most`` at most: more fails the test)."""
        ran = 0
        while self.payloads:
            assert ran < most, f"{most} invocations and {len(self.payloads)} still queued"
            deadline_ms = int((time.time() + seconds) * 1000)
            response = Client().post(
                "/events",
                self.payloads.pop(0),
                content_type="application/json",
                headers={
                    "x-amzn-request-context": "null",
                    "x-amzn-lambda-context": json.dumps({"deadline": deadline_ms}),
                },
            )
            assert response.status_code == 200, response.content
            ran += 1
        return ran


def on_lambda(settings, monkeypatch, **stream_exports: Any) -> LambdaQueue:
    """Jobs run by LambdaRunner, its invocations kept in a queue; files on S3 ("jobs")."""
    queue = LambdaQueue()
    monkeypatch.setattr(LambdaRunner, "client", property(lambda self: queue.client))
    settings.STREAM_EXPORTS = {
        "JOB_RUNNER": "stream_exports.runners.LambdaRunner",
        "JOB_LAMBDA_FUNCTION": "jobs",
        "JOB_STORAGE": "jobs",
        "JOB_SLICE_MARGIN": 0.1,
        **stream_exports,
    }
    return queue


def test_a_lambda_job_near_its_deadline_continues_in_new_invocations(
    world, rows, settings, signed, s3_jobs, monkeypatch
):
    queue = on_lambda(settings, monkeypatch, **STORED)
    body = start(world).json()
    # (Signed with the time: compared by what it carries, not byte for byte.)
    assert [job_id_from_event(payload) for payload in queue.payloads] == [body["id"]]
    invocations = queue.deliver(seconds=0.4)  # each invocation may run 0.3 s
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.status, job.rows) == ("succeeded", rows)
    assert invocations >= 2
    location = get(body["links"]["download"])["Location"]
    assert requests.get(location, timeout=30).content == live_export(signed)


def parts_uploaded(job_id: str) -> list[Any]:
    """The parts a job's checkpoint says are stored."""
    checkpoint = ExportJob.objects.get(pk=job_id).checkpoint
    return list(checkpoint.get("file", {}).get("sink", {}).get("parts", []))


@pytest.mark.servers
def test_an_invocation_killed_mid_slice_fails_the_job_with_why_and_drops_the_upload(
    world, settings, s3_jobs, tmp_path
):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
    job_id = start(world).json()["id"]
    env = {
        **os.environ,
        # Not compressed: its first part is stored at a third of the rows, long before the end.
        **server_env(world, JOB_STORAGE="jobs", CHUNK_SIZE=200, JOB_FILE_GZIP=False),
        **s3.ENV,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "EXPORTS_BUCKET": s3_jobs["bucket"],
        "EXPORTS_S3_ENDPOINT_URL": s3_jobs["endpoint"],
    }
    code = (
        "import django; django.setup(); from stream_exports.jobs.worker import run_job; "
        f"run_job({job_id!r})"
    )
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while not parts_uploaded(job_id):
            assert time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)  # as Lambda ends an invocation at its timeout
    finally:
        worker.wait(10)
        log.close()
    uploads = s3.client(s3_jobs["endpoint"]).list_multipart_uploads(Bucket=s3_jobs["bucket"])
    assert len(uploads["Uploads"]) == 1  # the killed run's, left open
    settings.STREAM_EXPORTS = {"JOB_STORAGE": "jobs", "JOB_STALE_AFTER": 0.5, "JOB_HEARTBEAT": 0.1}
    time.sleep(0.6)
    assert reap_stale_jobs() == 1
    job = ExportJob.objects.get(pk=job_id)
    assert job.status == "failed"
    assert "stopped (last heartbeat" in job.error
    uploads = s3.client(s3_jobs["endpoint"]).list_multipart_uploads(Bucket=s3_jobs["bucket"])
    assert not uploads.get("Uploads")  # no orphaned upload
    assert (
        not s3.client(s3_jobs["endpoint"]).list_objects_v2(Bucket=s3_jobs["bucket"]).get("Contents")
    )


def test_a_storage_error_mid_upload_fails_the_job_and_aborts_the_upload(
    world, settings, s3_jobs, monkeypatch
):
    from botocore.exceptions import ClientError

    from stream_exports.jobs import files

    real_send, sent = files.S3Sink._send, []

    def send_then_fail(sink: files.S3Sink) -> None:
        if sent:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "UploadPart")
        sent.append(True)
        real_send(sink)

    monkeypatch.setattr(files.S3Sink, "_send", send_then_fail)
    body = run_with(world, settings, JOB_FILE_GZIP=False)  # parts of 10 MiB: several
    job = ExportJob.objects.get(pk=body["id"])
    assert job.status == "failed"
    assert job.error.startswith("could not write the export file (server error, ClientError)")
    assert get(body["links"]["download"]).status_code == 409
    s3_client = s3.client(s3_jobs["endpoint"])
    assert not s3_client.list_multipart_uploads(Bucket=s3_jobs["bucket"]).get("Uploads")
    assert not s3_client.list_objects_v2(Bucket=s3_jobs["bucket"]).get("Contents")


def test_a_csv_job_in_slices_has_one_header_and_every_row(world, rows, settings, s3_jobs):
    body = run_with(world, settings, {"format": "csv"}, JOB_SLICE_SECONDS=0.2, **STORED)
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.format, job.status, job.rows) == ("csv", "succeeded", rows)
    log = JobLogLine.objects.filter(job=job, message__startswith="continuing after")
    assert log.exists()
    location = get(body["links"]["download"])["Location"]
    path = reverse("stream_exports:csv", args=["orders"])
    live = Client().get(sign_url(path, world["users"]["staff"], {})).streaming_content
    assert requests.get(location, timeout=60).content == b"".join(live)


def test_an_xlsx_job_on_s3_is_one_whole_workbook_whatever_its_slices(
    world, rows, settings, s3_jobs
):
    """A zip cannot be continued: JOB_SLICE_SECONDS leaves an XLSX job whole."""
    body = run_with(world, settings, {"format": "xlsx"}, JOB_SLICE_SECONDS=0.2, **STORED)
    job = ExportJob.objects.get(pk=body["id"])
    assert (job.format, job.status, job.rows) == ("xlsx", "succeeded", rows)
    assert not JobLogLine.objects.filter(job=job, message__startswith="continuing").exists()
    key = f"stream_exports/{job.pk}.xlsx"  # not gzipped: a zip already
    head = s3.client(s3_jobs["endpoint"]).head_object(Bucket=s3_jobs["bucket"], Key=key)
    assert head["ContentType"] == XLSX and "ContentEncoding" not in head
    location = get(body["links"]["download"])["Location"]
    archive = zipfile.ZipFile(io.BytesIO(requests.get(location, timeout=60).content))
    assert archive.testzip() is None
    assert count_rows(archive, "xl/worksheets/sheet1.xml") == rows + 1


def test_an_xlsx_job_past_its_lambda_deadline_fails_saying_why(
    world, rows, settings, s3_jobs, monkeypatch
):
    queue = on_lambda(settings, monkeypatch)
    body = start(world, {"format": "xlsx"}).json()
    assert queue.deliver(seconds=0.4) == 1  # no next invocation: nothing to continue
    job = ExportJob.objects.get(pk=body["id"])
    assert job.status == "failed" and job.rows < rows
    assert job.error.startswith("Excel files are written in one run, and this run's time was up")
    s3_client = s3.client(s3_jobs["endpoint"])
    assert not s3_client.list_multipart_uploads(Bucket=s3_jobs["bucket"]).get("Uploads")
    assert not s3_client.list_objects_v2(Bucket=s3_jobs["bucket"]).get("Contents")
