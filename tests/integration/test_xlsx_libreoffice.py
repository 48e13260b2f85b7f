"""XLSX exports opened by a real spreadsheet: LibreOffice (Debian's, headless) reads the
NDJSON export's values in cells of their types, and computes with them: the amounts sum,
the dates are numbers it can subtract, the booleans count; a formula-like text is text.

LibreOffice saves what it read as its own XLSX, which openpyxl reads back (values and
cell types); then formulas added below the rows are computed by LibreOffice itself."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from ..spreadsheets import CSV_FILTER, FIELDS, LABELS, STATUS_LABELS, convert, needs_libreoffice

pytestmark = [pytest.mark.django_db, needs_libreoffice]

ROWS = 500


def exported(url: str) -> bytes:
    return b"".join(Client().get(url).streaming_content)


def expected(name: str, value: Any, labels: bool) -> Any:
    """What LibreOffice's cell holds for an NDJSON value (datetimes: wall times in the
    current zone)."""
    if value is None:
        return None
    if name == "amount":
        return float(Decimal(value))
    if name == "created_at":
        zone = timezone.get_current_timezone()
        return dt.datetime.fromisoformat(value).astimezone(zone).replace(tzinfo=None)
    if name == "status" and labels:
        return STATUS_LABELS[value]
    return lines(value)


def lines(value: Any) -> Any:
    """A text with its line breaks as LF: LibreOffice keeps CRLF, and a CR among other
    lines, as LF (a CR alone at the start, as it is)."""
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


@pytest.mark.parametrize("labels", [False, True])
def test_libreoffice_reads_the_ndjson_exports_cells_typed(signed, tmp_path: Path, labels):
    params = {"limit": ROWS, **({"labels": "1"} if labels else {})}
    ours = tmp_path / "orders.xlsx"
    ours.write_bytes(exported(signed(params, format="xlsx")))
    records = [json.loads(line) for line in exported(signed({"limit": ROWS})).splitlines()[:-1]]
    theirs = convert(ours, "xlsx")  # what LibreOffice read, saved as its own file
    # (It writes a boolean as a formula, =TRUE(), with its value: read the values, and the
    # cells as written to see that no text became a formula.)
    header, *rows = openpyxl.load_workbook(theirs, data_only=True).active.iter_rows()
    book = openpyxl.load_workbook(theirs)
    sheet = book.active
    assert [cell.value for cell in header] == (LABELS if labels else FIELDS)
    assert len(rows) == len(records) == ROWS
    kinds = {"id": "n", "amount": "n", "quantity": "n", "paid": "b"}
    for row, record in zip(rows, records, strict=True):
        for name, cell in zip(FIELDS, row, strict=True):
            value = expected(name, record[name], labels)
            if value is None:
                assert cell.value is None, (record["id"], name)
            elif name == "data":
                assert json.loads(cell.value) == value
            elif name == "created_at":
                assert cell.is_date and abs(cell.value - value) <= dt.timedelta(milliseconds=1)
            else:
                assert lines(cell.value) == value, (record["id"], name, cell.value)
                assert cell.data_type == kinds.get(name, "s"), (record["id"], name)
                if cell.data_type == "s":
                    assert sheet[cell.coordinate].data_type == "s", (record["id"], name)
    assert any(str(record["note"]).startswith("=") for record in records)  # (never run)

    # LibreOffice computes over the cells it read: numbers sum, dates subtract, booleans count.
    end = ROWS + 1
    formulas = {
        "A": f"=COUNT(A2:A{end})",
        "D": f"=SUM(D2:D{end})",
        "F": f"=ROUND((MAX(F2:F{end})-MIN(F2:F{end}))*86400,0)",
        "G": f"=SUM(G2:G{end})",
        "H": f"=COUNT(H2:H{end})",
    }
    for column, formula in formulas.items():
        sheet[f"{column}{end + 1}"] = formula
        sheet[f"{column}{end + 1}"].number_format = "0.00"
    book.save(tmp_path / "sums.xlsx")
    with convert(tmp_path / "sums.xlsx", CSV_FILTER).open(encoding="utf-8", newline="") as out:
        computed = out.read().splitlines()[-1].split(",")
    created = [dt.datetime.fromisoformat(r["created_at"]) for r in records]
    assert computed[0] == f"{ROWS:.2f}"  # every id a number
    assert computed[3] == f"{sum(Decimal(r['amount']) for r in records):.2f}"
    assert computed[5] == f"{round((max(created) - min(created)).total_seconds()):.2f}"
    assert computed[6] == f"{sum(r['paid'] for r in records):.2f}"
    assert computed[7] == "0.00"  # notes are texts, none a number or a formula's result
