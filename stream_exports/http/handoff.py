"""Job streams served after Django's request: :class:`JobStreams`, an ASGI app around Django's.

Under Django's ASGI handler a response lives inside its request: a thread of its own
(``ThreadSensitiveContext``), the request, its middleware's response, two tasks. A
job's event or log stream may last the job's whole run, so a thousand watchers held
a thousand idle threads. Behind :class:`JobStreams` the stream's view answers as
always (the same middleware, access checks, refusals and headers), then hands its
chunks to this app instead of to Django (:func:`hand_off`): Django's request ends
after the headers, and the stream goes on here with only its own state (its
follower, its record, its lease on the caps). Without :class:`JobStreams`, or under
WSGI, nothing changes.

Installed in the project's ``asgi.py``::

    application = JobStreams(get_asgi_application())
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from asgiref.sync import sync_to_async

__all__ = ["Handoff", "JobStreams", "hand_off"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The scope key a view finds its request's :class:`Handoff` under.
HANDOFF = "stream_exports.handoff"


class Handoff:
    """What a view hands to :class:`JobStreams`: a stream's chunks and what runs at its end."""

    __slots__ = ("chunks", "on_close")

    def __init__(self) -> None:
        self.chunks: AsyncIterator[bytes] | None = None
        self.on_close: Callable[[], None] | None = None


def hand_off(
    scope: Scope | None, chunks: AsyncIterator[bytes], on_close: Callable[[], None]
) -> bool:
    """Give ``chunks`` and ``on_close`` to the :class:`JobStreams` serving ``scope`` (a
    request's ASGI scope); False when there is none (served by Django then)."""
    handoff = scope.get(HANDOFF) if scope is not None else None
    if handoff is None:
        return False
    handoff.chunks, handoff.on_close = chunks, on_close
    return True


#: The routes whose views hand their streams off (URL names in the app's namespace).
STREAM_ROUTES = frozenset({"job-events", "job-log"})


def is_job_stream(scope: Scope) -> bool:
    """Whether ``scope`` asks for a job's events or log (its path inside the app, less the
    script prefix, resolved as Django resolves it)."""
    from django.urls import Resolver404, resolve

    path, root = scope.get("path", ""), scope.get("root_path", "")
    if not path.endswith(("/events", "/log")):  # (most requests: no resolving)
        return False
    try:
        match = resolve(path.removeprefix(root) if root else path)
    except Resolver404:
        return False
    return match.url_name in STREAM_ROUTES and "stream_exports" in match.namespaces


class JobStreams:
    """An ASGI app around Django's: the job streams their views hand off (:func:`hand_off`)
    are served here once Django has sent their headers; every other request as Django
    serves it.

    Django's handler makes a thread for each request it serves: so that a thousand
    watchers who connect at once do not make a thousand threads (and leave their
    memory behind), at most ``opening`` job streams are in Django's hands at a time; the
    others wait their turn to be answered.
    """

    def __init__(self, app: ASGIApp, opening: int = 8) -> None:
        self.app = app
        self.opening = opening
        self._turns: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_job_stream(scope):
            await self.app(scope, receive, send)
            return
        handoff = scope[HANDOFF] = Handoff()
        status = 0

        async def send_headers_only(message: Message) -> None:
            # A handed-off stream's response ends empty: its end is this app's to send.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif handoff.chunks is not None and status == 200 and ends_empty(message):
                return
            await send(message)

        if self._turns is None:
            self._turns = asyncio.Semaphore(self.opening)
        try:
            async with self._turns:
                await self.app(scope, receive, send_headers_only)
        finally:
            del scope[HANDOFF]
        if handoff.chunks is not None:
            # (Not sent as handed off, say a middleware answered otherwise: only ended.)
            await serve(handoff, receive, send if status == 200 else None)


def ends_empty(message: Message) -> bool:
    """Whether ``message`` is a response's last, with no body (how Django ends a stream)."""
    return not message.get("body") and not message.get("more_body", False)


async def serve(handoff: Handoff, receive: Receive, send: Send | None) -> None:
    """Send a handed-off stream's chunks until they end or the client leaves (none without
    ``send``); then its ``on_close`` and the end of its database connections, as at a
    request's end (in the thread Django's database work runs in outside a request)."""
    assert handoff.chunks is not None
    chunks, on_close = handoff.chunks, handoff.on_close
    handoff.chunks = handoff.on_close = None
    gone = asyncio.create_task(left(receive, asyncio.current_task()))
    try:
        if send is None:
            return
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not gone.done() or (task := asyncio.current_task()) is None:
            raise  # (cancelled by the server, not because the client left)
        task.uncancel()
    finally:
        gone.cancel()
        with contextlib.suppress(Exception):
            await chunks.aclose()  # type: ignore[attr-defined]
        await sync_to_async(ended, thread_sensitive=True)(on_close)


def ended(on_close: Callable[[], None] | None) -> None:
    """A stream's end: ``on_close``, then the connections closed that Django would close at
    a request's end (none left open on a database Django does not pool)."""
    from django.db import close_old_connections

    try:
        if on_close is not None:
            on_close()
    finally:
        close_old_connections()


async def left(receive: Receive, stream: asyncio.Task | None) -> None:
    """Cancel ``stream`` when its client disconnects."""
    while (await receive())["type"] != "http.disconnect":
        pass
    if stream is not None:
        stream.cancel()
