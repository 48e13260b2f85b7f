"""A CSV export opened by a real spreadsheet: LibreOffice (Debian's, headless) reads the
same cells, accents and line breaks included."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from stream_exports.http.access import sign_url

SOFFICE = shutil.which("soffice")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        SOFFICE is None, reason="LibreOffice is not installed (.ci/run installs it)"
    ),
]

#: Import every column as text (format 2), so cells are compared as written, not as
#: numbers or dates a spreadsheet would reformat.
TEXT_COLUMNS = "/".join(f"{column}/2" for column in range(1, 20))


def test_libreoffice_reads_the_same_cells(world, tmp_path: Path):
    path = reverse("stream_exports:csv", args=["orders"])
    url = sign_url(path, world["users"]["staff"], {"limit": 500, "bom": "1"})
    exported = tmp_path / "orders.csv"
    exported.write_bytes(b"".join(Client().get(url).streaming_content))
    subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            f"--infilter=CSV:44,34,76,1,{TEXT_COLUMNS}",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1",
            "--outdir",
            str(tmp_path / "out"),
            str(exported),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    ours = list(csv.reader(exported.open(encoding="utf-8-sig", newline="")))
    theirs = list(
        csv.reader((tmp_path / "out" / "orders.csv").open(encoding="utf-8-sig", newline=""))
    )
    assert len(theirs) == len(ours) == 501
    # A spreadsheet keeps a line break inside a cell as LF: CRLF or CR in our text reads as LF.
    as_lines = [[v.replace("\r\n", "\n").replace("\r", "\n") for v in row] for row in ours]
    assert theirs == as_lines
    assert any("ø" in value or "é" in value for row in theirs for value in row)  # UTF-8 read
