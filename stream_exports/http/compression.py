"""Negotiated compression of exports and downloads: zstd, gzip or identity, flushed per chunk.

``Accept-Encoding`` decides (q-values honoured, ``identity;q=0`` respected). Every
chunk is flushed (a sync flush for gzip, a block flush for zstd), so the first
line decodes at once and a stream stays a stream; the decoded body is byte for
byte the identity body. Under API Gateway ``STREAM`` nothing else compresses.

The first chunk is compressed and sent at once; each later one is compressed in a
thread of a shared pool while the request's thread makes the next one (zlib and zstd
let go of the GIL as they work), and sent once that next one is made: one chunk and its
compressed form in flight at most, so a slow client holds no more than that.
"""

from __future__ import annotations

import os
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

try:  # Python 3.14 has it; older ones take the backport (the ``zstd`` extra)
    from compression.zstd import ZstdCompressor  # type: ignore[import-not-found]
except ImportError:
    try:
        from backports.zstd import ZstdCompressor
    except ImportError:  # pragma: no cover - without the extra, gzip and identity remain
        ZstdCompressor = None

from django.http import HttpRequest

from ..conf import conf
from ..core.errors import Refusal

__all__ = [
    "IDENTITY",
    "NotAcceptable",
    "available",
    "compressed",
    "decoded",
    "encoding_for",
    "negotiate",
]

IDENTITY = "identity"

#: A compressor: data in, compressed bytes out, flushed; ``b""`` in with ``last`` ends it.
Compress = Callable[[bytes, bool], bytes]


class NotAcceptable(Refusal):
    """The client refuses every encoding this server has (``identity;q=0``): a 406."""

    status = 406


def available() -> tuple[str, ...]:
    """The encodings this server offers (``COMPRESSION``) and can write, best first."""
    offered = (name.strip() for name in conf.COMPRESSION.split(","))
    return tuple(n for n in offered if n == "gzip" or (n == "zstd" and ZstdCompressor is not None))


def encoding_for(request: HttpRequest, stored: str = IDENTITY) -> str:
    """The encoding to answer ``request`` with, for content already in ``stored`` (which
    wins ties: it costs nothing); ``NotAcceptable`` when there is none."""
    offered = available()
    if stored != IDENTITY:
        offered = (stored, *(name for name in offered if name != stored))
    return negotiate(request.headers.get("Accept-Encoding"), offered)


#: RFC 9110, 12.4.2: ``qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )``.
QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def _weights(header: str) -> dict[str, float]:
    """``Accept-Encoding`` as {coding: q}; a q outside the RFC's grammar counts as 0 (RFC
    9110, 12.5.3), whatever ``float()`` would make of it (nan, 1e999, other scripts' digits)."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if not coding:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                q = float(value) if QVALUE.fullmatch(value) else 0.0
        weights[coding.lower()] = q
    return weights


def negotiate(header: str | None, offered: Sequence[str]) -> str:
    """The encoding to answer with: the client's most wanted of ``offered`` (ties go to
    ``offered``'s order), else identity; ``NotAcceptable`` when identity is refused too."""
    if not header:
        return IDENTITY
    weights = _weights(header)
    star = weights.get("*")
    ranked = [
        (weights.get(coding, star if star is not None else 0.0), -index, coding)
        for index, coding in enumerate(offered)
    ]
    best = max(ranked, default=(0.0, 0, IDENTITY))
    if best[0] > 0:
        return best[2]
    identity = weights.get(IDENTITY, star if star is not None else 1.0)
    if identity <= 0:
        raise NotAcceptable(
            f"Accept-Encoding {header!r} refuses identity and every encoding offered "
            f"({', '.join(offered)})."
        )
    return IDENTITY


def _gzip(level: int) -> Compress:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(data: bytes, last: bool) -> bytes:
        out = compressor.compress(data)
        return out + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)

    return compress


def _zstd(level: int) -> Compress:
    assert ZstdCompressor is not None
    compressor = ZstdCompressor(level=level)
    block, frame = ZstdCompressor.FLUSH_BLOCK, ZstdCompressor.FLUSH_FRAME

    def compress(data: bytes, last: bool) -> bytes:
        return bytes(compressor.compress(data, mode=frame if last else block))

    return compress


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _compressing() -> ThreadPoolExecutor:
    """The process's compression threads (a thread per core), made on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = os.cpu_count() or 1
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="stream-exports-compress")
        return _pool


def compressed(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """``chunks`` in ``encoding`` (``zstd`` or ``gzip``), each flushed, the stream ended
    properly; the first chunk compressed and sent at once (the first bytes leave as soon
    as uncompressed), each later one compressed while the next is made (one task of a
    stream in the pool at a time, so in order). Closing this generator closes ``chunks``
    (and so the query)."""
    compress = _zstd(conf.ZSTD_LEVEL) if encoding == "zstd" else _gzip(conf.GZIP_LEVEL)
    source = iter(chunks)
    pending: Future[bytes] | None = None
    try:
        for chunk in source:
            yield compress(chunk, False)
            break
        for chunk in source:
            out = pending.result() if pending is not None else b""
            pending = _compressing().submit(compress, chunk, False)
            if out:
                yield out
        if pending is not None and (out := pending.result()):
            yield out
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    yield compress(b"", True)


def decoded(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """``chunks`` of a gzip stream (a stored job file), decoded as they come, every member
    of it (a partitioned job's file is one member a piece)."""
    if encoding != "gzip":
        raise ValueError(f"cannot decode {encoding!r}")
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    source = iter(chunks)
    try:
        for chunk in source:
            while chunk:
                if out := decoder.decompress(chunk):
                    yield out
                chunk = b""
                if decoder.eof:  # a member ended: what follows is the next one's
                    chunk = decoder.unused_data
                    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    if tail := decoder.flush():
        yield tail
