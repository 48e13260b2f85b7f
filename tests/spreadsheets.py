"""Spreadsheets read back in tests: LibreOffice (Debian's, headless) converting a file,
the rows of a sheet counted without loading it, and the orders' columns as a
spreadsheet shows them."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

SOFFICE = shutil.which("soffice")

#: For tests that open files in LibreOffice.
needs_libreoffice = pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice is not installed (.ci/run installs it)"
)

#: The orders dataset's fields, their labels (``labels=1``), and its choices' labels.
FIELDS = ["id", "customer", "email", "amount", "quantity", "created_at", "paid", "note"]
FIELDS += ["data", "status"]
LABELS = ["Id", "Customer", "Email", "Amount", "Quantity", "Created at", "Paid", "Note"]
LABELS += ["Data", "Order status"]
STATUS_LABELS = {
    "placed": "Placed",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "returned": "Returned to sender",
}

#: LibreOffice's CSV filter: comma, double quotes, UTF-8 (76), from the first line.
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1"


def convert(source: Path, target: str, infilter: str = "") -> Path:
    """``source`` as LibreOffice opens it (``infilter``: how, for a CSV) and saves it as
    ``target`` (``"xlsx"``, ``"ods"``, :data:`CSV_FILTER`); the new file's path."""
    out = source.parent / f"{source.stem}-{target.split(':')[0]}"
    subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation=file://{source.parent / 'libreoffice-profile'}",
            "--headless",
            *([f"--infilter={infilter}"] if infilter else []),
            "--convert-to",
            target,
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out / f"{source.stem}.{target.split(':')[0]}"


def count_rows(archive: zipfile.ZipFile, name: str) -> int:
    """The rows in a sheet of an XLSX, read a piece at a time out of the zip."""
    count, tail = 0, b""
    with archive.open(name) as member:
        while piece := member.read(1 << 20):
            count += (tail + piece).count(b"</row>") - tail.count(b"</row>")
            tail = piece[-5:]
    return count
