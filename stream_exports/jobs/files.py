"""Job files written to storage as they are produced: gzip-compressed, never whole in
memory or on local disk, never visible half-written, and continued by another process
from a checkpoint.

- S3 (django-storages' ``S3Storage``): a multipart upload. The object exists only once
  the upload completes; a failed job aborts it. After each part the file's state (the
  upload id, the parts, and the gzip CRC and length) is a small JSON checkpoint.
- A storage with local paths (``FileSystemStorage``): a ``.part`` file beside the final
  name, renamed when whole, removed when not.
- Any other storage: its own file object under the final name, deleted when the job fails.

gzip is written as raw deflate with its own header and trailer, so its state is two
numbers; every part ends with a full flush (a byte boundary, no back reference across
it), so a new deflater can carry on where a checkpoint left off.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import IO, Any, Protocol, TypeGuard

from django.core.files.storage import Storage

from .checkpoint import FileState

__all__ = [
    "GZIP",
    "FilePart",
    "GzipWriter",
    "JobFile",
    "PathSink",
    "S3Sink",
    "Sink",
    "StorageSink",
    "delete_objects",
    "discard",
    "is_s3",
    "open_sink",
]

GZIP = "gzip"
#: S3's smallest part, but for the last one (5 MiB); parts are sent at twice that.
MIN_PART = 5 * 2**20
PART = 2 * MIN_PART

#: gzip's header (RFC 1952): deflate, no flags, no time, no extra fields, OS unknown.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

FilePart = dict[str, Any]


class GzipWriter:
    """gzip as raw deflate: ``crc`` and ``size`` (of the data so far) are all its state."""

    def __init__(self, level: int, crc: int = 0, size: int = 0) -> None:
        self.level, self.crc, self.size = level, crc, size
        self.started = size > 0
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)

    def write(self, data: bytes) -> bytes:
        head = b"" if self.started else GZIP_HEADER
        self.started = True
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        return head + self._deflate.compress(data)

    def flush(self) -> bytes:
        """Everything so far, ending on a byte boundary a new deflater may continue from."""
        return self._deflate.flush(zlib.Z_FULL_FLUSH)

    def finish(self) -> bytes:
        head = b"" if self.started else GZIP_HEADER
        tail = self._deflate.flush(zlib.Z_FINISH)
        return head + tail + struct.pack("<II", self.crc, self.size & 0xFFFFFFFF)


class Sink(Protocol):
    """Where a job file's bytes go."""

    name: str
    #: Whether another process can continue the file from a checkpoint (S3 only).
    continuable: bool

    def put(self, data: bytes) -> None: ...

    @property
    def pending(self) -> int:
        """Bytes put but not stored yet, that a checkpoint would store (0: none ever)."""
        ...

    def cut(self) -> dict[str, Any]:
        """Store what is pending (if anything); the state another process continues from."""
        ...

    def close(self) -> None:
        """Make the file whole and visible under ``name``."""
        ...

    def discard(self) -> None:
        """Leave nothing behind (no half file, no open upload)."""
        ...


class S3Like(Protocol):
    """What is used of django-storages' ``S3Storage``."""

    bucket_name: str
    connection: Any
    location: str

    def url(self, name: str, parameters: Any = None, expire: int | None = None) -> str: ...

    def get_object_parameters(self, name: str) -> dict[str, Any]: ...


def is_s3(storage: Storage) -> TypeGuard[S3Like]:
    """Whether ``storage`` is django-storages' S3 storage (a boto3 resource and a bucket)."""
    return hasattr(storage, "bucket_name") and hasattr(storage, "connection")


def s3_key(storage: Any, name: str) -> str:
    """The object key of ``name``: under the storage's ``location``, as it stores it."""
    location = str(getattr(storage, "location", "") or "").strip("/")
    return f"{location}/{name}" if location else name


class S3Sink:
    """A multipart upload: each ``cut`` sends one part and is a checkpoint."""

    continuable = True

    def __init__(
        self,
        storage: Any,
        name: str,
        headers: Mapping[str, str],
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.client = storage.connection.meta.client
        self.where = {"Bucket": storage.bucket_name, "Key": s3_key(storage, name)}
        self.buffer = bytearray()
        if state:
            self.upload_id = str(state["upload_id"])
            self.parts: list[FilePart] = list(state["parts"])
            return
        params = {**storage.get_object_parameters(name), **headers}
        upload = self.client.create_multipart_upload(**self.where, **params)
        self.upload_id, self.parts = upload["UploadId"], []

    def put(self, data: bytes) -> None:
        self.buffer += data

    @property
    def pending(self) -> int:
        return len(self.buffer)

    def _send(self) -> None:
        number = len(self.parts) + 1
        sent = self.client.upload_part(
            **self.where, UploadId=self.upload_id, PartNumber=number, Body=bytes(self.buffer)
        )
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        self.buffer.clear()

    def cut(self) -> dict[str, Any]:
        if self.buffer:
            self._send()
        return {"upload_id": self.upload_id, "parts": list(self.parts)}

    def close(self) -> None:
        if self.buffer or not self.parts:
            self._send()
        self.client.complete_multipart_upload(
            **self.where, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def discard(self) -> None:
        self.client.abort_multipart_upload(**self.where, UploadId=self.upload_id)


class PathSink:
    """A ``.part`` file on local disk, renamed to its name when whole."""

    def __init__(self, storage: Storage, name: str) -> None:
        self.name = storage.get_available_name(name)
        self.path = storage.path(self.name)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.file: IO[bytes] = open(self.path + ".part", "wb")  # noqa: SIM115

    def put(self, data: bytes) -> None:
        self.file.write(data)

    continuable, pending = False, 0  # (a local file is not continued by another machine)

    def cut(self) -> dict[str, Any]:
        raise NotImplementedError("a local file is not continued elsewhere")

    def close(self) -> None:
        self.file.close()
        os.replace(self.path + ".part", self.path)

    def discard(self) -> None:
        try:
            self.file.close()  # (may fail too on a full disk, with what it still holds)
        finally:
            if os.path.lexists(self.path + ".part"):
                os.unlink(self.path + ".part")


class StorageSink:
    """The storage's own file object under the final name; deleted if the job fails."""

    def __init__(self, storage: Storage, name: str) -> None:
        self.storage, self.name = storage, storage.get_available_name(name)
        self.file = storage.open(self.name, "wb")

    def put(self, data: bytes) -> None:
        self.file.write(data)

    continuable, pending = False, 0  # (nor is a file of another storage)

    def cut(self) -> dict[str, Any]:
        raise NotImplementedError(f"{self.storage.__class__.__name__} files are not continued")

    def close(self) -> None:
        self.file.close()

    def discard(self) -> None:
        try:
            self.file.close()
        finally:
            self.storage.delete(self.name)


def _has_paths(storage: Storage) -> bool:
    try:
        storage.path("probe")
    except NotImplementedError:
        return False
    return True


def open_sink(
    storage: Storage, name: str, headers: Mapping[str, str], state: Mapping[str, Any] | None
) -> Sink:
    """The sink for ``storage``: S3 multipart (continued from ``state``), a local ``.part``
    file, or the storage's own file object."""
    if is_s3(storage):
        return S3Sink(storage, name, headers, state)
    if state:
        raise ValueError(f"{type(storage).__name__} cannot continue a file from a checkpoint.")
    return PathSink(storage, name) if _has_paths(storage) else StorageSink(storage, name)


def delete_objects(storage: Storage, names: Sequence[str]) -> None:
    """Delete ``names`` if they are there (on S3 a thousand a request), ignoring failures:
    what is left is only a piece of a file already whole or dropped."""
    if not is_s3(storage):
        for name in names:
            with contextlib.suppress(Exception):
                storage.delete(name)
        return
    client = storage.connection.meta.client
    for at in range(0, len(names), 1000):
        keys = [{"Key": s3_key(storage, name)} for name in names[at : at + 1000]]
        with contextlib.suppress(Exception):
            client.delete_objects(
                Bucket=storage.bucket_name, Delete={"Objects": keys, "Quiet": True}
            )


def discard(storage: Storage, file: FileState) -> None:
    """Drop a file left unfinished at a checkpoint, with the pieces of a partitioned one
    (``sink["pieces"]``: their names)."""
    pieces = list(file.sink.get("pieces", ()))
    parts = [] if is_s3(storage) else [name + ".part" for name in pieces]
    delete_objects(storage, pieces + parts)
    if pieces and not file.sink.get("upload_id"):
        return  # (no upload, and the file itself is not made until the pieces are joined)
    open_sink(storage, file.name, {}, file.sink).discard()


class JobFile:
    """A job's file: chunks in, gzip (or as they are) out to a sink, a checkpoint per part."""

    def __init__(self, sink: Sink, gzip: GzipWriter | None, stored: int = 0) -> None:
        self.sink, self.gzip, self.stored = sink, gzip, stored

    def write(self, chunk: bytes) -> FileState | None:
        """Write ``chunk`` (whole lines); a checkpoint when that completed a part, else None."""
        self._put(self.gzip.write(chunk) if self.gzip else chunk)
        return self.checkpoint() if self.sink.pending >= PART else None

    def checkpoint(self) -> FileState | None:
        """Store what is pending, if it makes a part, and return the state to continue
        from; None when too little is pending yet (write on) or the sink cannot."""
        if not self.sink.continuable:
            return None
        if self.gzip is not None:
            self._put(self.gzip.flush())
        if self.sink.pending < MIN_PART:
            return None
        return self._state()

    def opened(self) -> FileState | None:
        """The state of the file as just opened (or continued), so that an upload is
        known, and dropped, even if the job dies before its first part."""
        if not self.sink.continuable or self.sink.pending:
            return None
        return self._state()

    def save(self) -> None:
        """Finish the file and make it whole."""
        if self.gzip is not None:
            self._put(self.gzip.finish())
        self.sink.close()

    def discard(self) -> None:
        self.sink.discard()

    def _state(self) -> FileState:
        """Store what is pending; the file's state from here."""
        sink = self.sink.cut()
        gzip = {"crc": self.gzip.crc, "size": self.gzip.size} if self.gzip else None
        return FileState(self.sink.name, sink, gzip, self.stored)

    def _put(self, data: bytes) -> None:
        self.stored += len(data)
        self.sink.put(data)
