"""Negotiated compression of exports and downloads: the choice, the bytes, the timing."""

from __future__ import annotations

import time

import pytest
import requests
from django.test import Client

from stream_exports.http.compression import NotAcceptable, compressed, negotiate

from ..streams import decoder

OFFERED = ("zstd", "gzip")


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip, deflate, br, zstd", "zstd"),
        ("gzip, deflate", "gzip"),
        ("gzip;q=1, zstd;q=0.5", "gzip"),
        ("zstd;q=0, gzip;q=0.1", "gzip"),
        ("br", "identity"),
        ("*", "zstd"),
        ("*;q=0, identity", "identity"),
        ("GZIP", "gzip"),
        ("gzip;q=bogus, zstd;q=0.2", "zstd"),
    ],
)
def test_accept_encoding_decides_with_its_q_values(header, chosen):
    assert negotiate(header, OFFERED) == chosen


@pytest.mark.parametrize("header", ["identity;q=0, br", "*;q=0", "identity;q=0"])
def test_refusing_identity_and_everything_offered_is_not_acceptable(header):
    with pytest.raises(NotAcceptable, match="refuses identity"):
        negotiate(header, OFFERED)


@pytest.mark.parametrize(
    "q",
    ["nan", "NaN", "inf", "1e999", "0.5e1", "9" * 5000, "\u0663", "+1", "1.0001", "0.1234", "-0"],
)
def test_a_q_value_outside_the_rfcs_grammar_counts_as_zero(q):
    """RFC 9110 12.4.2: qvalue = 0[.ddd] / 1[.000]; Python's float() takes far more."""
    assert negotiate(f"gzip;q={q}", ("gzip",)) == "identity"
    with pytest.raises(NotAcceptable):
        negotiate(f"gzip;q={q}, identity;q=0", ("gzip",))


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_every_chunk_is_flushed_so_each_decodes_alone(encoding):
    chunks = [b'{"id":%d}\n' % n for n in range(50)]
    out = compressed(iter(chunks), encoding)
    decode = decoder(encoding)
    for chunk in chunks:
        assert decode.decompress(next(out)) == chunk  # nothing held back
    assert decode.decompress(b"".join(out)) == b""  # the end: a proper frame or gzip trailer
    assert decode.eof


def test_closing_the_compressed_stream_closes_its_source():
    closed = []

    def source():
        try:
            yield b"a\n"
            yield b"b\n"
        finally:
            closed.append(True)

    out = compressed(source(), "gzip")
    next(out)
    out.close()
    assert closed == [True]


@pytest.mark.django_db
def test_an_export_refusing_every_encoding_is_a_406_before_the_first_byte(signed):
    response = Client().get(signed(), HTTP_ACCEPT_ENCODING="identity;q=0, br")
    assert response.status_code == 406
    assert "refuses identity" in response.json()["error"]


@pytest.mark.django_db
def test_compression_can_be_turned_off(signed, settings):
    settings.STREAM_EXPORTS = {"COMPRESSION": ""}
    response = Client().get(signed({"limit": 5}), HTTP_ACCEPT_ENCODING="gzip")
    assert response.get("Content-Encoding") is None
    assert "Accept-Encoding" in response["Vary"].split(", ")  # (and Origin: CORS)


def raw_body(url: str, encoding: str) -> tuple[requests.Response, bytes, float, float]:
    """The undecoded body, when its first decoded line was readable, and when it ended."""
    decode, first, started, body = decoder(encoding), None, time.perf_counter(), b""
    with requests.get(url, headers={"Accept-Encoding": encoding}, stream=True, timeout=60) as r:
        for raw in r.raw.stream(65536, decode_content=False):
            body += raw
            if first is None and b"\n" in decode.decompress(raw):
                first = time.perf_counter() - started
    assert first is not None
    return r, body, first, time.perf_counter() - started


@pytest.mark.servers
@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_a_compressed_export_decodes_to_the_identity_body_and_streams(
    server, signed, encoding, world
):
    url = server.url + signed()
    identity = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=60)
    assert identity.headers.get("Content-Encoding") is None
    response, body, first, total = raw_body(url, encoding)
    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"].split(", ")
    assert "Content-Length" not in response.headers
    decoded = decoder(encoding).decompress(body)
    assert decoded == identity.content
    assert decoded.endswith(b'"rows":%d,"last":%d}}\n' % (world["rows"], world["rows"]))
    assert len(body) < len(decoded) / 4
    assert first < total / 5, (first, total)


@pytest.mark.servers
def test_requests_decodes_a_compressed_export_and_resumes_it_with_after(server, signed):
    whole = requests.get(server.url + signed({"limit": 3000}), timeout=60).content.splitlines()
    cut = 1234
    after = signed({"limit": 3000}) + f"&after={cut}"
    response = requests.get(server.url + after, timeout=60)  # requests asks for zstd or gzip
    assert response.headers["Content-Encoding"] in ("zstd", "gzip")
    rest = response.content.splitlines()
    assert rest[0].startswith(b'{"id":%d,' % (cut + 1))
    assert rest[-1].startswith(b'{"_stream":{"status":"complete"')
    assert whole[cut:-1] == rest[: len(whole) - 1 - cut]
