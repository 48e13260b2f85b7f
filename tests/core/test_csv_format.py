"""The CSV wire format: values as the NDJSON export writes them, quoted so they round-trip."""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import uuid

import pytest

from stream_exports.core.csv_format import BOM, cell, csv_rows

TRICKY = ["a\rb", "c\r\nd", "e\nf", "x,y", 'q"q', "\u2028\u2029\u0085", "emoji 🦆", " lead", ""]


@pytest.mark.parametrize("text", TRICKY)
def test_every_text_round_trips_through_pythons_csv_reader(text):
    line = csv_rows([(1, text)], 2)
    assert line.endswith(b"\n") and not line.endswith(b"\r\n")
    (row,) = csv.reader(io.StringIO(line.decode(), newline=""))
    assert row == ["1", text]


def test_values_are_written_as_the_ndjson_export_writes_them():
    when = datetime.datetime(2024, 1, 1, 0, 0, 6, 271493, tzinfo=datetime.UTC)
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert [cell(v) for v in (None, True, False, 7, 2**70, decimal.Decimal("12.50"))] == [
        "",
        "true",
        "false",
        "7",
        str(2**70),
        "12.50",
    ]
    assert cell(when) == "2024-01-01T00:00:06.271493+00:00"
    assert cell(datetime.date(2024, 2, 29)) == "2024-02-29"
    assert cell(key) == str(key)
    assert cell('{"a": [1, 2]}') == '{"a": [1, 2]}'  # JSON fields come as their text


def test_only_the_first_width_values_are_written():
    assert csv_rows([(1, "a", 99)], 2) == b"1,a\n"  # (the cursor read beside the fields)


def test_the_bom_is_utf8s():
    assert BOM.decode("utf-8") == "\ufeff"
