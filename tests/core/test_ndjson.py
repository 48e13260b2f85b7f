"""The NDJSON stream: the trailer, written and read back in one place; a failure after the
first byte ends the stream with an error trailer."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from stream_exports.core.encoding import encode_rows
from stream_exports.core.formats.ndjson import (
    Trailer,
    describe_failure,
    error_trailer,
    parse_trailer,
    trailer,
)

from ..streams import body_lines

pytestmark = pytest.mark.django_db


def get(signed: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return Client().get(signed(params), **kwargs)


def test_failure_after_the_first_byte_ends_with_an_error_trailer(
    signed, fails_after_first_batch, caplog, settings
):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": False}  # (PostgreSQL's fails for real elsewhere)
    lines = body_lines(get(signed, {"limit": 5000}))
    assert len(lines) == 2001
    assert lines[-1] == {
        "_stream": {
            "status": "error",
            "error": "export failed (server error, RuntimeError); the server log has the cause",
            "retry": False,  # not the database's connection: resuming would fail again
            "rows": 2000,
            "last": 2000,
        }
    }
    assert "disk on fire" in caplog.text


@pytest.mark.parametrize(("rows", "last"), [(0, None), (12, 34), (3, "b-7"), (1, "2024-01-01")])
def test_a_complete_trailer_reads_back_as_written(rows, last):
    line = trailer(rows, last)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_trailer(line) == Trailer("complete", rows, last)
    assert parse_trailer(line.rstrip(b"\n")).complete


@pytest.mark.parametrize(
    ("exc", "retry"), [(OperationalError("server closed"), True), (RuntimeError("boom"), False)]
)
def test_an_error_trailer_reads_back_with_its_reason_and_whether_to_retry(exc, retry):
    read = parse_trailer(error_trailer(exc, 5, 9))
    assert read == Trailer("error", 5, 9, error=describe_failure(exc), retry=retry)
    assert not read.complete


@pytest.mark.parametrize(
    "line",
    [
        encode_rows(["id", "note"], [(1, "_stream")]),
        b'{"id":1,"_stream":{"status":"complete","rows":1,"last":1}}\n',  # a field named so
        b'{"_stream": 5}\n',
        b'{"_stream":{"rows":1}}\n',  # no status
        b'{"_stream":',
        b"",
    ],
)
def test_anything_but_a_trailer_reads_as_none(line):
    assert parse_trailer(line) is None
