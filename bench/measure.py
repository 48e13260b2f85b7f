"""One timed transfer: curl for HTTP, psql for the anchor; the body is counted as it comes."""

from __future__ import annotations

import os
import re
import subprocess
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

READ = 1 << 20
TAIL = 4096
#: Reads the table, its TOAST table and its indexes into the OS cache (pg_prewarm).
PREWARM = """
SELECT sum(pg_prewarm(c.oid, 'read')) FROM pg_class c
WHERE c.oid = 'demo_order'::regclass
   OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'demo_order'::regclass)
   OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'demo_order'::regclass)
"""


@dataclass
class Transfer:
    """What one client process received, and when."""

    wall: float
    first_byte: float | None
    bytes: int
    lines: int
    tail: bytes

    @property
    def last_line(self) -> bytes:
        """The body's last line (an export's trailer)."""
        return self.tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]


def decoder(encoding: str) -> Callable[[bytes], bytes] | None:
    """What turns a body sent in ``encoding`` back into its lines, a block at a time."""
    if encoding == "gzip":
        return zlib.decompressobj(wbits=31).decompress
    if encoding == "zstd":
        from backports.zstd import ZstdDecompressor

        return ZstdDecompressor().decompress
    return None


def timed(
    command: list[str], decode: Callable[[bytes], bytes] | None = None, keep: Path | None = None
) -> Transfer:
    """Run ``command``, reading its stdout as it comes; time to first byte and to exit.
    ``bytes`` counts what came; lines and tail are of it decoded by ``decode``; ``keep``:
    a file the body is written to as it comes (a workbook, read after)."""
    started = time.perf_counter()
    first, size, lines, tail = None, 0, 0, b""
    kept = keep.open("wb") if keep else None
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        while block := process.stdout.read1(READ):
            if first is None:
                first = time.perf_counter() - started
            size += len(block)
            text = decode(block) if decode else block
            lines += text.count(b"\n")
            tail = (tail + text[-TAIL:])[-TAIL:]
            if kept:
                kept.write(block)
        error = process.stderr.read()
    if kept:
        kept.close()
    wall = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}): {error.decode()[-500:]}")
    return Transfer(wall, first, size, lines, tail)


def curl(
    url: str, method: str = "GET", encoding: str = "identity", keep: Path | None = None
) -> Transfer:
    """One HTTP request with curl (unbuffered), the body read as it comes: asking for
    ``encoding`` and counting the bytes as sent, the lines decoded (``keep``: to a file)."""
    return timed(
        [
            "curl", "--silent", "--show-error", "--fail", "--no-buffer",
            "--header", f"Accept-Encoding: {encoding}", "--request", method, url,
        ],
        decoder(encoding),
        keep,
    )  # fmt: skip


_ROW_NUMBER = re.compile(rb'<row r="(\d+)"')


def workbook_rows(path: Path) -> int:
    """The rows of an XLSX file, its sheets' headers left out: each sheet's last row number
    (read through the sheet to its end), less one. Raises if the file is not a whole zip."""
    rows = 0
    with zipfile.ZipFile(path) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        for name in sheets:
            tail = b""
            with archive.open(name) as member:  # (a cut member fails its CRC at the end)
                while piece := member.read(READ):
                    tail = (tail + piece)[-READ:]
            numbers = _ROW_NUMBER.findall(tail)
            rows += int(numbers[-1]) - 1 if numbers else 0
    return rows


#: The columns of the demo dataset (its fields), as the CSV anchor copies them.
CSV_COLUMNS = "id, customer, email, amount, quantity, created_at, paid, note, data"


def copy_query(rows: int | None, format: str = "ndjson") -> str:
    """The anchor: PostgreSQL writes each row as JSON (``format`` ndjson) or the dataset's
    columns as CSV with a header (csv), psql copies it out."""
    limit = f" limit {rows}" if rows else ""
    if format == "csv":
        return (
            f"\\copy (select {CSV_COLUMNS} from demo_order order by id{limit}) "
            "to stdout with (format csv, header)"
        )
    return f"\\copy (select row_to_json(t) from demo_order t order by id{limit}) to stdout"


def psql_command(database_url: str, rows: int | None, format: str = "ndjson") -> list[str]:
    """psql running the anchor's ``\\copy`` for ``rows`` rows (None: all)."""
    return ["psql", "--no-psqlrc", "--quiet", database_url, "-c", copy_query(rows, format)]


def psql_copy(database_url: str, rows: int | None, format: str = "ndjson") -> float:
    """Wall seconds of ``psql \\copy`` with its output to /dev/null."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(psql_command(database_url, rows, format), stdout=sink, check=True)
    return time.perf_counter() - started


def psql_counted(database_url: str, rows: int | None, format: str = "ndjson") -> Transfer:
    """``psql \\copy`` read through a pipe: its bytes and lines (and a warm cache)."""
    return timed(psql_command(database_url, rows, format))


def prewarm(database_url: str) -> None:
    """Put the table back in the OS cache: this VM reclaims pages left cold for half a minute,
    so without it a run after a long one would read from disk."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(PREWARM)
