"""A CSV export opened by a real spreadsheet: LibreOffice (Debian's, headless) reads the
same cells, accents and line breaks included."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse

from stream_exports.links.signing import sign_url

from ..spreadsheets import CSV_FILTER, convert, needs_libreoffice

pytestmark = [pytest.mark.django_db, needs_libreoffice]

#: Import every column as text (format 2), so cells are compared as written, not as
#: numbers or dates a spreadsheet would reformat.
TEXT_COLUMNS = "/".join(f"{column}/2" for column in range(1, 20))


def test_libreoffice_reads_the_same_cells(world, tmp_path: Path):
    path = reverse("stream_exports:csv", args=["orders"])
    url = sign_url(path, world["users"]["staff"], {"limit": 500, "bom": "1"})
    exported = tmp_path / "orders.csv"
    exported.write_bytes(b"".join(Client().get(url).streaming_content))
    converted = convert(exported, CSV_FILTER, infilter=f"CSV:44,34,76,1,{TEXT_COLUMNS}")
    ours = list(csv.reader(exported.open(encoding="utf-8-sig", newline="")))
    theirs = list(csv.reader(converted.open(encoding="utf-8-sig", newline="")))
    assert len(theirs) == len(ours) == 501
    # A spreadsheet keeps a line break inside a cell as LF: CRLF or CR in our text reads as LF.
    as_lines = [[v.replace("\r\n", "\n").replace("\r", "\n") for v in row] for row in ours]
    assert theirs == as_lines
    assert any("ø" in value or "é" in value for row in theirs for value in row)  # UTF-8 read


@pytest.mark.parametrize("escaped", [True, False])
def test_libreoffice_runs_no_formula_of_an_escaped_csv(world, tmp_path: Path, settings, escaped):
    """LibreOffice opening the CSV as people do (types guessed, formulas evaluated: its
    default) runs a note like ``=HYPERLINK(...)`` unless the export escaped it."""
    if not escaped:
        settings.STREAM_EXPORTS = {"CSV_ESCAPE_FORMULAS": False}
    path = reverse("stream_exports:csv", args=["orders"])
    url = sign_url(path, world["users"]["staff"], {"limit": 3000, "fields": "id,note"})
    exported = tmp_path / "notes.csv"
    exported.write_bytes(b"".join(Client().get(url).streaming_content))
    notes = {
        int(row[0]): row[1]
        for row in list(csv.reader(exported.open(encoding="utf-8", newline="")))[1:]
    }
    ran = notes_run_by_libreoffice(convert(exported, "xlsx", infilter="CSV:44,34,76,1"))
    formulas = {n for n, note in notes.items() if note.startswith("=")}
    if escaped:
        assert not formulas and not ran
        assert any(note.startswith("'=HYPERLINK(") for note in notes.values())
    else:
        assert formulas and ran == formulas  # what escaping prevents


def notes_run_by_libreoffice(path: Path) -> set[int]:
    """The ids whose note LibreOffice made a formula (as it saved it)."""
    sheet = openpyxl.load_workbook(path).active
    return {row[0].value for row in sheet.iter_rows(min_row=2) if row[1].data_type == "f"}
