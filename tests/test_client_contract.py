"""The client reads the trailer the way the server writes it (two parsers, one contract).

``stream_exports.core.ndjson`` writes and parses the trailer for the server; the
client (which cannot import Django) keeps a twin in ``stream_exports_client.trailer``.
The server's real lines go through both here, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.db import OperationalError
from stream_exports_client import Download, ExportFailed
from stream_exports_client import trailer as client

from stream_exports.core.formats import ndjson as server

from .servers import Reply, scripted_server

RECORDS = b'{"id":1,"note":"a"}\n{"id":2,"note":"\\u2028"}\n'


def server_lines() -> dict[str, bytes]:
    """Every kind of trailer the server writes: complete, error, and error to retry."""
    return {
        "complete": server.trailer(2, 2),
        "complete, empty": server.trailer(0, None),
        "complete, text cursor": server.trailer(5, "2024-05-01T10:00:00.000001+00:00"),
        "complete, decimal cursor": server.trailer(5, Decimal("10.50")),
        "error": server.error_trailer(ValueError('bad "value" \u00e9\n'), 2, 2),
        "retry": server.error_trailer(OperationalError("server closed the connection"), 7, 9),
    }


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize("kind", list(server_lines()))
def test_the_client_parses_each_server_trailer_as_the_server_does(settings, debug, kind):
    settings.DEBUG = debug  # the error text differs
    line = server_lines()[kind].rstrip(b"\n")
    ours, theirs = client.parse_trailer(line), server.parse_trailer(line)
    assert ours is not None and theirs is not None
    assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
    assert ours.complete == theirs.complete == kind.startswith("complete")
    assert ours.retry == theirs.retry == (kind == "retry")


def test_both_trailers_have_the_same_fields_and_key():
    names = [field.name for field in dataclasses.fields(client.Trailer)]
    assert names == [field.name for field in dataclasses.fields(server.Trailer)]
    assert client.TRAILER_KEY == server.TRAILER_KEY


@pytest.mark.parametrize(
    "line",
    [
        b'{"id":1,"note":"a"}',
        b'{"id":1,"_stream":{"status":"complete"}}',
        server.trailer(2, 2)[:20],  # half a trailer: the body was cut
        b"",
        b"not json",
    ],
    ids=["record", "record with the key", "half a trailer", "empty", "not json"],
)
def test_neither_parser_takes_a_record_or_a_cut_line_for_a_trailer(line):
    assert client.parse_trailer(line) is None
    assert server.parse_trailer(line) is None


def test_the_client_completes_on_the_servers_trailer():
    with scripted_server(Reply(200, RECORDS + server.trailer(2, 2))) as (base, paths):
        download = Download(f"{base}/exports/orders.ndjson", backoff=0)
        assert [record["id"] for _, record in download.lines()] == [1, 2]
    assert len(paths) == 1


def test_the_client_raises_the_servers_error_and_resumes_its_retry(settings):
    settings.DEBUG = False
    failed = server.error_trailer(ValueError("boom"), 2, 2)
    with (
        scripted_server(Reply(200, RECORDS + failed)) as (base, _),
        pytest.raises(ExportFailed) as raised,
    ):
        list(Download(f"{base}/x.ndjson", backoff=0).lines())
    assert str(raised.value) == server.describe_failure(ValueError("boom"))

    lost = server.error_trailer(OperationalError("gone"), 2, 2)
    replies = (Reply(200, RECORDS + lost), Reply(200, b'{"id":3}\n' + server.trailer(1, 3)))
    with scripted_server(*replies) as (base, paths):
        download = Download(f"{base}/x.ndjson", backoff=0)
        assert [record["id"] for _, record in download.lines()] == [1, 2, 3]
    assert paths == ["/x.ndjson", "/x.ndjson?after=2"]
    assert download.resumes == 1
