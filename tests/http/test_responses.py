"""Stream responses: async under ASGI, sync under WSGI; an unreachable database is a 503."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

pytestmark = pytest.mark.django_db


def get(signed: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return Client().get(signed(params), **kwargs)


async def test_asgi_requests_get_an_async_stream(signed, settings):
    # (No audit row and no stream lease: written from the view's own thread, they would
    # wait on SQLite for the test's transaction to end; the servers' tests do both.)
    settings.STREAM_EXPORTS = {"AUDIT": False, "MAX_STREAMS": 0, "MAX_STREAMS_PER_USER": 0}
    response = await AsyncClient().get(signed({"limit": 3}))
    assert response.is_async
    chunks = [chunk async for chunk in response.streaming_content]
    await sync_to_async(connections.close_all)()  # the view's thread keeps its connection
    lines = b"".join(chunks).splitlines()
    assert [json.loads(line).get("id") for line in lines[:-1]] == [1, 2, 3]


def test_wsgi_requests_get_a_sync_stream(signed):
    assert not get(signed, {"limit": 1}).is_async


@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
def test_an_unreachable_database_is_503_with_retry_after(signed, monkeypatch, error):
    from django import db

    from stream_exports.core.datasets import registry

    def down(*args: Any) -> Any:
        raise getattr(db, error)("connection refused")

    monkeypatch.setattr(registry, "allowed", down)
    response = get(signed)
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert "database is unavailable" in response.json()["error"]


def _stream(request: Any, chunks: Any, closed: list[str]) -> Any:
    from stream_exports.http.responses import StreamResponse

    return StreamResponse(request, chunks, "text/plain", on_close=lambda: closed.append("x"))


async def test_an_async_stream_closes_its_source_and_runs_on_close_once():
    from django.test import AsyncRequestFactory

    closed: list[str] = []
    source_closed: list[bool] = []

    async def source() -> Any:
        try:
            yield b"a\n"
            yield b"b\n"
        finally:
            source_closed.append(True)

    response = _stream(AsyncRequestFactory().get("/"), source(), closed)
    parts = aiter(response)
    assert await anext(parts) == b"a\n"
    await parts.aclose()  # the client went away after the first chunk
    response.close()  # and the server closes the response as well
    assert source_closed == [True]
    assert closed == ["x"]


def test_a_sync_stream_runs_on_close_once_when_the_server_closes_it():
    from django.test import RequestFactory

    closed: list[str] = []
    response = _stream(RequestFactory().get("/"), iter([b"a\n", b"b\n"]), closed)
    assert b"".join(response) == b"a\nb\n"
    response.close()
    response.close()
    assert closed == ["x"]


def test_a_closed_stream_ends_its_source_then_on_close_then_the_request():
    """``on_close`` (the audit record's last write) runs after the source is closed and
    before ``request_finished``, which closes the request's database connections."""
    from django.core.signals import request_finished
    from django.test import RequestFactory

    order: list[str] = []

    def source() -> Any:
        try:
            yield b"a\n"
            yield b"b\n"
        finally:
            order.append("source")

    def finished(**_: Any) -> None:
        order.append("request_finished")

    response = _stream(RequestFactory().get("/"), source(), order)
    assert next(iter(response)) == b"a\n"  # the client leaves after one chunk
    request_finished.connect(finished)
    try:
        response.close()
    finally:
        request_finished.disconnect(finished)
    assert order == ["source", "x", "request_finished"]
