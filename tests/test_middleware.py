"""The GZip middleware: other responses compressed, streams never."""

from __future__ import annotations

import gzip

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("middleware", "encoding"),
    [("django.middleware.gzip.GZipMiddleware", "gzip"), (None, None)],
)
def test_streams_are_never_gzipped_by_our_middleware(signed, settings, middleware, encoding):
    # The export's own compression off: what is left is what the middleware does.
    settings.STREAM_EXPORTS = {"COMPRESSION": ""}
    if middleware:  # Django's own compresses streams: the reason for ours
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "GZip" not in m]
        settings.MIDDLEWARE.insert(1, middleware)
    response = Client().get(signed({"limit": 300}), HTTP_ACCEPT_ENCODING="gzip")
    assert response.get("Content-Encoding") == encoding


def test_an_export_is_compressed_once_even_under_djangos_gzip_middleware(signed, settings):
    identity = b"".join(Client().get(signed({"limit": 300})).streaming_content)
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "GZip" not in m]
    settings.MIDDLEWARE.insert(1, "django.middleware.gzip.GZipMiddleware")
    response = Client().get(signed({"limit": 300}), HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"  # the export's own, flushed per chunk
    assert gzip.decompress(b"".join(response.streaming_content)) == identity  # not twice


def test_our_gzip_middleware_still_compresses_other_responses(world):
    client = Client()
    client.force_login(world["users"]["superuser"])
    response = client.get("/admin/", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
