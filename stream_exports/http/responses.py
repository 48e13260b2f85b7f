"""HTTP responses: streams served the way the running server needs, capped, and JSON answers.

Django consumes a sync iterator whole under ASGI and an async one whole under
WSGI. One decision (:func:`is_asgi`) and two thin shells: under WSGI the sync
chunk generator is served as it is; under ASGI :func:`in_request_thread` drives
that same generator from the request's own thread, one chunk per hop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header

from .answers import NEVER_STORED
from .compression import IDENTITY, NotAcceptable, compressed, decoded, encoding_for
from .handoff import hand_off
from .limits import TooManyStreams, limiter
from .measure import Stream, StreamOutcome, ameasured, counted, measured
from .refusals import refusal

__all__ = [
    "EVENT_STREAM",
    "TEXT",
    "StreamResponse",
    "in_request_thread",
    "is_asgi",
    "open_stream",
]

TEXT = "text/plain; charset=utf-8"
EVENT_STREAM = "text/event-stream; charset=utf-8"

_END = object()

Chunks = Iterator[bytes] | AsyncIterator[bytes]


def is_asgi(request: HttpRequest) -> bool:
    """Whether the request is served by an ASGI server (async iteration) or WSGI (sync)."""
    return isinstance(request, ASGIRequest)


def _next_chunk(chunks: Iterator[bytes]) -> Any:
    return next(chunks, _END)


async def in_request_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Serve a sync chunk generator to an ASGI server without buffering it.

    Each ``next()`` runs in the request's thread-sensitive thread, where the
    view ran and the database connection lives. When the client hangs up the
    task is cancelled here (or this generator is closed); either way the sync
    generator is closed in that same thread, which ends the query and the
    transaction before the connection is released.
    """
    step = sync_to_async(_next_chunk, thread_sensitive=True)
    try:
        while (chunk := await step(chunks)) is not _END:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


#: The public ``streaming_content`` property of Django's streaming responses.
_streaming_content: property = StreamingHttpResponse.streaming_content  # type: ignore[assignment]


class StreamResponse(StreamingHttpResponse):
    """A streaming response that is never buffered, compressed or given a length.

    Under ASGI it is served from an async iterator (a sync one is driven from
    the request's thread) that is closed directly when the client goes away;
    under WSGI from the sync iterator. ``on_close`` runs once either way.
    """

    #: Marks the response for ``stream_exports.middleware.GZipMiddleware``.
    never_compress = True

    def __init__(
        self,
        request: HttpRequest,
        chunks: Chunks,
        content_type: str,
        filename: str | None = None,
        status: int = 200,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        content: Chunks = chunks
        if is_asgi(request) and isinstance(chunks, Iterator):
            content = in_request_thread(chunks)
        self._on_close = on_close
        self._source = content  # (what wraps it later, a middleware or the test client, aside)
        super().__init__(content, content_type=content_type, status=status)
        self["Cache-Control"] = NEVER_STORED
        self["X-Accel-Buffering"] = "no"
        if filename and (disposition := content_disposition_header(True, filename)):
            self["Content-Disposition"] = disposition

    def _keep_chunks(self, value: Chunks) -> None:
        # Django keeps only a wrapped iterator (private); keep the one we are given too,
        # so that __aiter__ can close it. Assigning streaming_content stays public API.
        self._chunks = value
        _streaming_content.fset(self, value)  # type: ignore[misc]

    streaming_content = property(_streaming_content.fget, _keep_chunks)

    def _closed(self) -> None:
        """Run ``on_close`` the first time the response ends, whichever way it ends."""
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def close(self) -> None:
        """The server calls it when the response is done: close the chunks, run
        ``on_close``, then Django's close, whose ``request_finished`` closes the database
        connections (so the stream's last write is not made on a closed one)."""
        try:
            try:
                if callable(close := getattr(self._source, "close", None)):
                    close()
            finally:
                self._closed()
        finally:
            super().close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # Django's own __aiter__ wraps the iterator without closing it; iterate
        # it directly so that closing this response's iterator closes ours.
        iterator = self._chunks
        try:
            if not isinstance(iterator, AsyncIterator):
                raise TypeError("a sync stream is served by __iter__ (WSGI)")
            async for part in iterator:
                yield part
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
            on_close, self._on_close = self._on_close, None
            if on_close is not None:  # Django skips close() when the client left
                # In the request's thread: the stream's end may write its audit record.
                await sync_to_async(on_close, thread_sensitive=True)()


async def nothing() -> AsyncIterator[bytes]:
    """No chunks: the body of a stream handed off (:mod:`~stream_exports.http.handoff`)."""
    return
    yield


def open_stream(
    request: HttpRequest,
    user: Any,
    make: Callable[[], Chunks],
    content_type: str,
    filename: str | None = None,
    *,
    compress: bool = False,
    stored: str = IDENTITY,
    stream: Stream | None = None,
) -> HttpResponseBase:
    """Every stream this app serves: counted against the caps (429 with ``Retry-After``
    when over them), released when it ends however it ends. With ``compress`` (exports
    and downloads) in the encoding ``Accept-Encoding`` and ``COMPRESSION`` choose, each
    chunk flushed; 406 when the client accepts none of them and refuses identity.
    ``stored``: the encoding ``make``'s chunks are in already (a job file), sent as they
    are when the client takes it, decoded when not. ``stream``: what the record written
    when it ends says (:mod:`~stream_exports.http.measure`); bytes, times and how it
    ended are measured here. An export's or download's audit record is inserted here,
    before ``make``, and ended with the stream. An async stream (a job's events or log
    under ASGI) is handed to :class:`~stream_exports.http.handoff.JobStreams` when one
    serves the request: it goes on after Django's request ends."""
    stream = stream if stream is not None else Stream("stream")
    stream.user = getattr(user, "pk", None)
    try:
        encoding = encoding_for(request, stored) if compress else stored
        release = limiter.acquire(user.pk)
    except (NotAcceptable, TooManyStreams) as exc:
        return refusal(request, exc, user)
    stream.encoding = encoding
    on_close: Callable[[], None] | None

    def released() -> None:
        release()
        stream.finish(StreamOutcome.CLIENT_GONE)  # (no-op once the stream's end was measured)

    on_close = released
    try:
        stream.open_audit(request, user)
        chunks = make()
        if isinstance(chunks, Iterator):
            if encoding != stored and stored != IDENTITY:
                chunks = decoded(chunks, stored)
            chunks = counted(chunks, stream)
            if encoding != stored and encoding != IDENTITY:
                chunks = compressed(chunks, encoding)
            chunks = measured(chunks, stream)
        else:
            assert encoding == stored, "compressed streams are sync generators"
            chunks = ameasured(chunks, stream)
            if hand_off(getattr(request, "scope", None), chunks, released):
                chunks, on_close = nothing(), None  # (JobStreams serves them, after Django)
        response = StreamResponse(request, chunks, content_type, filename, on_close=on_close)
    except BaseException as exc:
        release()
        stream.finish(StreamOutcome.ERROR, f"{type(exc).__name__}: {exc}")
        raise
    if compress:
        patch_vary_headers(response, ["Accept-Encoding"])
    if encoding != IDENTITY:
        response["Content-Encoding"] = encoding
    return response
