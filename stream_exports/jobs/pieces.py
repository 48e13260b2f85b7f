"""A partitioned job's file, written in pieces by many workers and made one at the end.

Each partition writes one piece (a gzip member of its own when the file is gzipped:
concatenated members are one gzip file):

- On S3, parts of the job's one multipart upload. Partition ``i`` of ``n`` owns part
  numbers ``1 + i*K`` to ``(i+1)*K`` (``K = 9999 // n``), so the parts complete in
  order; number 10,000 is the file's last part. S3 wants every part but the last to be
  5 MiB at least, and a piece may be smaller: so each piece holds back its first bytes
  (its *head*, at least 5 MiB unless the piece is smaller) in an object of its own and
  uploads the rest as parts, keeping 5 MiB unsent until its end (its last part is never
  short). The coordinator then uploads the heads in order, each into the first number
  of its partition: a head of 5 MiB and more by ``UploadPartCopy`` (the bytes stay in
  S3), smaller ones joined with those after them (re-uploaded); what is left goes into
  the last part with the file's tail (NDJSON's trailer).
- Elsewhere, a file per piece beside the job's file, joined into it at the end.

A piece on S3 can be continued by another process (a partition's next Lambda invocation):
at a checkpoint what it holds in memory, its head and the bytes it keeps back, is stored
as objects of its own (``<piece>`` and ``<piece>.held``), and read back by the next run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from django.core.files.storage import Storage

from ..conf import conf
from .checkpoint import FileState
from .files import (
    MIN_PART,
    PART,
    GzipWriter,
    S3Sink,
    Sink,
    delete_objects,
    is_s3,
    open_sink,
    s3_key,
)

__all__ = ["LAST_PART", "Piece", "compose", "piece_names", "write_piece"]

#: S3's highest part number: the file's last part (the coordinator's tail).
LAST_PART = 10_000
#: How much of a piece file is read at a time when pieces are joined.
READ_SIZE = 2**20


def piece_name(file: FileState, index: int, attempt: int) -> str:
    """Where attempt ``attempt`` of partition ``index`` keeps its piece (or its head)."""
    return f"{file.name}.piece-{index}-{attempt}"


def held_name(name: str) -> str:
    """Where a piece stopped at a checkpoint keeps the bytes it held back from its parts."""
    return f"{name}.held"


def piece_names(file: FileState, count: int, tries: int) -> list[str]:
    """Every object a piece of ``count`` partitions may store (what is deleted when the
    job is dropped or made whole)."""
    names = [piece_name(file, i, t) for i in range(count) for t in range(1, tries + 1)]
    return [each for name in names for each in (name, held_name(name))]


def part_numbers(index: int, count: int) -> range:
    """The part numbers partition ``index`` of ``count`` owns (the first for its head)."""
    size = (LAST_PART - 1) // count
    return range(1 + index * size, 1 + (index + 1) * size)


class Piece:
    """One partition's piece being written: ``put`` bytes, then ``close`` for where it is,
    or ``checkpoint`` for where a next run continues it (``state``)."""

    def __init__(
        self,
        storage: Storage,
        file: FileState,
        index: int,
        count: int,
        attempt: int,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.storage, self.file = storage, file
        self.name = piece_name(file, index, attempt)
        self.s3 = is_s3(storage)
        self.head = bytearray()
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.part_size = PART
        self.size = 0
        gzip = (state or {}).get("gzip") or {}
        if file.gzip is not None:
            self.gzip: GzipWriter | None = GzipWriter(conf.GZIP_LEVEL, **gzip)
        else:
            self.gzip = None
        if state:
            self._continue(state)
        self.numbers = iter(part_numbers(index, count)[1 + len(self.parts) :])
        self.sink: Sink | None = None if self.s3 else open_sink(storage, self.name, {}, None)

    @property
    def continuable(self) -> bool:
        """Whether another process can continue this piece from a checkpoint (S3 only)."""
        return self.s3

    def checkpoint(self) -> dict[str, Any]:
        """Store the head and the bytes held back as objects; the state to continue from."""
        if self.gzip is not None and self.gzip.started:
            self._store(self.gzip.flush())
        self._put(self.name, self.head)
        self._put(held_name(self.name), self.buffer)
        gzip = {"crc": self.gzip.crc, "size": self.gzip.size} if self.gzip is not None else None
        return {
            "head_size": len(self.head),
            "held_size": len(self.buffer),
            "parts": self.parts,
            "part_size": self.part_size,
            "size": self.size,
            "gzip": gzip,
        }

    def _continue(self, state: Mapping[str, Any]) -> None:
        """Take up the piece where a checkpoint left it: its held bytes read back."""
        bucket = self.storage.bucket_name  # type: ignore[attr-defined]
        if state["head_size"]:
            self.head += _read(self._client(), bucket, self.storage, self.name)
        if state["held_size"]:
            self.buffer += _read(self._client(), bucket, self.storage, held_name(self.name))
        if (len(self.head), len(self.buffer)) != (state["head_size"], state["held_size"]):
            raise ValueError(f"the held bytes of {self.name} are not as its checkpoint says")
        self.parts = list(state["parts"])
        self.part_size, self.size = int(state["part_size"]), int(state["size"])

    def put(self, data: bytes) -> None:
        self._store(self.gzip.write(data) if self.gzip is not None else data)

    def close(self) -> dict[str, Any]:
        """Store the rest; what the coordinator needs of this piece."""
        if self.gzip is not None and self.size:
            self._store(self.gzip.finish())
        if self.sink is not None:
            self.sink.close()
            return {"name": self.sink.name, "size": self.size}
        if self.buffer and self.parts:
            self._send(len(self.buffer))
        else:  # never sent a part: the whole piece is its head
            self.head += self.buffer
        self._put(self.name, self.head)
        head = self.name if self.head else None
        return {"head": head, "head_size": len(self.head), "parts": self.parts, "size": self.size}

    def discard(self) -> None:
        """Drop what this attempt stored (its parts are left out of the upload)."""
        if self.sink is not None:
            self.sink.discard()
        else:
            delete_objects(self.storage, [self.name, held_name(self.name)])

    def _store(self, data: bytes) -> None:
        self.size += len(data)
        if self.sink is not None:
            self.sink.put(data)
            return
        room = MIN_PART - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.buffer += data
        while len(self.buffer) >= self.part_size + MIN_PART:
            self._send(self.part_size)

    def _send(self, size: int) -> None:
        number = next(self.numbers, None)
        if number is None:
            raise ValueError(
                "this partition outgrew its share of the upload's parts: raise "
                "MAX_PARTITIONS or lower PARTITION_ROWS, so that each is smaller"
            )
        body, self.buffer = bytes(self.buffer[:size]), self.buffer[size:]
        sent = self._client().upload_part(
            **self._where(self.file.name),
            UploadId=self.file.sink["upload_id"],
            PartNumber=number,
            Body=body,
        )
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        if len(self.parts) % 64 == 0:  # (larger parts as it grows: 10,000 go far)
            self.part_size *= 2

    def _put(self, name: str, data: bytearray) -> None:
        """Store ``data`` as the object ``name`` (nothing if it is empty)."""
        if data:
            self._client().put_object(**self._where(name), Body=bytes(data))

    def _client(self) -> Any:
        return self.storage.connection.meta.client  # type: ignore[attr-defined]

    def _where(self, name: str) -> dict[str, str]:
        return {"Bucket": self.storage.bucket_name, "Key": s3_key(self.storage, name)}  # type: ignore[attr-defined]


def write_piece(
    storage: Storage,
    file: FileState,
    index: int,
    count: int,
    attempt: int,
    chunks: Iterator[bytes],
    state: Mapping[str, Any] | None = None,
    over: Callable[[], bool] = lambda: False,
) -> tuple[dict[str, Any], bool]:
    """Write ``chunks`` as piece ``index`` (continued from ``state``), to their end or, on
    S3, until ``over()``; where the piece is and whether it is whole (False: the state a
    next run continues from). Dropped if the writing fails."""
    piece = Piece(storage, file, index, count, attempt, state)
    try:
        for chunk in chunks:
            piece.put(chunk)
            if piece.continuable and over():
                return piece.checkpoint(), False
        return piece.close(), True
    except BaseException:
        with contextlib.suppress(Exception):
            piece.discard()
        raise


def tail_bytes(file: FileState, tail: bytes) -> bytes:
    """The file's tail (NDJSON's trailer) as it is stored: a gzip member of its own."""
    if file.gzip is None or not tail:
        return tail
    writer = GzipWriter(conf.GZIP_LEVEL)
    return writer.write(tail) + writer.finish()


def compose(
    storage: Storage,
    file: FileState,
    headers: Mapping[str, str],
    pieces: Sequence[Mapping[str, Any]],
    tail: bytes,
) -> str:
    """Make the pieces (in order) and ``tail`` one file; its name."""
    tail = tail_bytes(file, tail)
    if is_s3(storage):
        _complete(storage, file, pieces, tail)
        return file.name
    sink = open_sink(storage, file.name, headers, None)
    try:
        for piece in pieces:
            with storage.open(piece["name"], "rb") as stored:
                while data := stored.read(READ_SIZE):
                    sink.put(data)
        sink.put(tail)
        sink.close()
    except BaseException:
        sink.discard()
        raise
    delete_objects(storage, [piece["name"] for piece in pieces])
    return sink.name


def _complete(
    storage: Any, file: FileState, pieces: Sequence[Mapping[str, Any]], tail: bytes
) -> None:
    """Upload the heads in order (copied, or joined while short), the rest with ``tail`` as
    the last part, and complete the upload."""
    upload = S3Sink(storage, file.name, {}, file.sink)
    client, where = upload.client, upload.where
    parts: list[dict[str, Any]] = []
    carry: list[str] = []  # heads not uploaded yet, in order

    def upload_carry(number: int, extra: bytes = b"") -> None:
        if len(carry) == 1 and not extra:
            source = {"Bucket": where["Bucket"], "Key": s3_key(storage, carry[0])}
            copied = client.upload_part_copy(
                **where, UploadId=upload.upload_id, PartNumber=number, CopySource=source
            )
            etag = copied["CopyPartResult"]["ETag"]
        else:
            body = b"".join(_read(client, where["Bucket"], storage, name) for name in carry)
            sent = client.upload_part(
                **where, UploadId=upload.upload_id, PartNumber=number, Body=body + extra
            )
            etag = sent["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
        carry.clear()

    carried = 0
    for index, piece in enumerate(pieces):
        if piece.get("head"):
            carry.append(piece["head"])
            carried += int(piece["head_size"])
        if carried >= MIN_PART or (piece["parts"] and carry):
            upload_carry(part_numbers(index, len(pieces))[0])
            carried = 0
        parts.extend(piece["parts"])
    if carry or tail or not parts:
        upload_carry(LAST_PART, tail)
    client.complete_multipart_upload(
        **where, UploadId=upload.upload_id, MultipartUpload={"Parts": parts}
    )
    heads = [str(piece["head"]) for piece in pieces if piece.get("head")]
    delete_objects(storage, [*heads, *file.sink.get("pieces", ())])  # (and any try's held bytes)


def _read(client: Any, bucket: str, storage: Any, name: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=s3_key(storage, name))["Body"].read())
