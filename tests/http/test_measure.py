"""A measure of every stream: the record each export, download, log and event stream
ends with, and its CloudWatch embedded metric format on Lambda."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from typing import Any

import pytest
from django.test import Client

LOGGER = "stream_exports.streams"


@pytest.fixture
def records(caplog: Any) -> Any:
    """The stream records logged so far (as the JSON their messages are)."""
    caplog.set_level("INFO", logger=LOGGER)

    def read() -> list[dict[str, Any]]:
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER]

    return read


@pytest.mark.django_db
def test_a_complete_export_says_rows_bytes_and_times(signed, records, caplog):
    response = Client().get(signed({"limit": 7}))
    body = b"".join(response.streaming_content)
    [record] = records()
    assert record["stream"] == "export"
    assert (record["dataset"], record["format"], record["outcome"]) == (
        "orders",
        "ndjson",
        "complete",
    )
    assert record["rows"] == 7
    assert record["bytes"] == record["bytes_raw"] == len(body)
    assert record["encoding"] == "identity"
    assert record["status"] == 200
    assert record["user"] is not None
    assert 0 < record["ttfb_ms"] <= record["duration_ms"]
    assert record["reason"] is None
    [record_of_the_log] = [r for r in caplog.records if r.name == LOGGER]
    assert record_of_the_log.stream == record  # also as ``extra`` for structured handlers
    assert "sig=" not in caplog.text


@pytest.mark.django_db
def test_a_compressed_export_counts_bytes_on_the_wire_and_before_compression(signed, records):
    response = Client().get(signed({"limit": 200}), HTTP_ACCEPT_ENCODING="gzip")
    body = b"".join(response.streaming_content)
    [record] = records()
    assert record["encoding"] == "gzip"
    assert record["bytes"] == len(body)
    assert record["bytes_raw"] == len(gzip.decompress(body))
    assert record["bytes"] < record["bytes_raw"]
    assert record["rows"] == 200


@pytest.mark.django_db
def test_a_csv_export_counts_its_rows_without_a_trailer(world, records):
    from django.urls import reverse

    from stream_exports.links.signing import sign_url

    path = reverse("stream_exports:csv", args=["orders"])
    url = sign_url(path, world["users"]["staff"], {"limit": 9})
    body = b"".join(Client().get(url).streaming_content)
    [record] = records()
    assert (record["format"], record["rows"], record["outcome"]) == ("csv", 9, "complete")
    assert record["bytes"] == len(body)


@pytest.mark.django_db
def test_an_export_the_client_leaves_is_client_gone(signed, records, settings):
    settings.STREAM_EXPORTS = {"CHUNK_SIZE": 10, "COPY_FAST_PATH": False}
    response = Client().get(signed({"limit": 100}))
    first = next(iter(response.streaming_content))
    response.close()
    [record] = records()
    assert record["outcome"] == "client_gone"
    assert record["bytes"] == len(first)
    assert record["rows"] is not None and record["rows"] < 100


@pytest.mark.django_db
def test_an_export_that_fails_after_its_first_batch_is_an_error_with_a_reason(
    signed, records, settings, fails_after_first_batch
):
    settings.STREAM_EXPORTS = {"CHUNK_SIZE": 10, "ENGINE": "cursor", "COPY_FAST_PATH": False}
    body = b"".join(Client().get(signed({"limit": 100})).streaming_content)
    [record] = records()
    assert record["outcome"] == "error"
    assert "RuntimeError" in record["reason"]
    assert record["rows"] == 10
    assert record["bytes"] == len(body)


@pytest.mark.django_db
def test_a_csv_export_that_fails_breaks_the_connection_and_says_why(
    world, records, settings, fails_after_first_batch
):
    from django.urls import reverse

    from stream_exports.links.signing import sign_url

    settings.STREAM_EXPORTS = {"CHUNK_SIZE": 10, "ENGINE": "cursor", "COPY_FAST_PATH": False}
    path = reverse("stream_exports:csv", args=["orders"])
    response = Client().get(sign_url(path, world["users"]["staff"], {"limit": 100}))
    with pytest.raises(RuntimeError, match="disk on fire"):
        b"".join(response.streaming_content)
    [record] = records()
    assert (record["format"], record["outcome"]) == ("csv", "error")
    assert record["reason"] == "RuntimeError: disk on fire"
    assert record["rows"] == 10


@pytest.mark.django_db
def test_a_refused_export_is_refused_with_its_status(world, signed, records, caplog):
    path = signed({"limit": 1})
    tampered = path.replace("limit=1", "limit=2")
    assert Client().get(tampered).status_code == 403
    assert Client().get("/exports/nosuch.ndjson").status_code in (401, 404)
    first, second = records()
    assert (first["stream"], first["outcome"], first["status"]) == ("export", "refused", 403)
    assert first["reason"]
    assert second["outcome"] == "refused" and second["dataset"] == "nosuch"
    sig = path.partition("sig=")[2]
    assert sig not in caplog.text


def test_the_job_streams_and_their_refusals_are_measured(world, records, committed_jobs):
    from stream_exports.core.datasets import registry
    from stream_exports.jobs.lifecycle import create_job, log
    from stream_exports.links.signing import sign_url
    from stream_exports.models import ExportJob

    staff = world["users"]["staff"]
    job = create_job(registry.allowed("orders", staff), {}, staff)
    log(job, "one line")
    log(job, "another")
    url = sign_url(f"/exports/jobs/{job.pk}/log", staff, {"follow": "0"})
    text = b"".join(Client().get(url).streaming_content)
    download = sign_url(f"/exports/jobs/{job.pk}/download", staff)
    assert Client().get(download).status_code == 409
    logged, refused = records()
    assert (logged["stream"], logged["job"], logged["dataset"]) == ("log", str(job.pk), "orders")
    assert logged["outcome"] == "complete"
    assert logged["lines"] == text.count(b"\n") >= 2
    assert logged["rows"] is None
    assert (refused["stream"], refused["status"], refused["outcome"]) == (
        "download",
        409,
        "refused",
    )
    assert ExportJob.objects.filter(pk=job.pk).exists()


@pytest.mark.django_db
def test_on_lambda_the_record_is_embedded_metric_format_on_stdout(
    signed, records, monkeypatch, capsys
):
    from django.apps import apps

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "exports-app")
    logger = logging.getLogger(LOGGER)
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    apps.get_app_config("stream_exports").ready()  # as the app starts on Lambda
    try:
        b"".join(Client().get(signed({"limit": 3})).streaming_content)
    finally:
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    [directive] = record["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["dataset", "format", "outcome"]]
    names = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert names == {
        "TTFB": "Milliseconds",
        "Duration": "Milliseconds",
        "Bytes": "Bytes",
        "Rows": "Count",
    }
    assert (record["dataset"], record["format"], record["outcome"]) == (
        "orders",
        "ndjson",
        "complete",
    )
    assert record["Rows"] == 3 and record["Bytes"] > 0 and record["TTFB"] >= 0
    assert isinstance(record["_aws"]["Timestamp"], int)
    assert records() == []  # not twice
    assert "sig=" not in line


@pytest.mark.django_db
@pytest.mark.parametrize("format", ["ndjson", "csv"])
def test_the_admins_export_now_is_measured(world, records, format):
    from ..admin.changelist import client_for, export

    response = export(client_for(world, "staff"), "paid__exact=1&q=ana", format=format)
    body = b"".join(response.streaming_content)
    [record] = records()
    assert (record["stream"], record["dataset"], record["outcome"]) == (
        "admin-export",
        "orders",
        "complete",
    )
    lines: list = body.rstrip(b"\n").split(b"\n")
    if format == "csv":  # (a quoted value may hold a newline)
        lines = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert record["rows"] == len(lines) - 1  # less the trailer or the header row
    assert record["user"] == world["users"]["staff"].pk
