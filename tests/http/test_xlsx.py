"""``GET /exports/<name>.xlsx``: the NDJSON export's rows as typed cells, headers and
choices as people read them when asked, never compressed again, and cut, not short,
when it fails."""

from __future__ import annotations

import datetime as dt
import io
import json
import zoneinfo
from decimal import Decimal
from functools import partial
from typing import Any

import openpyxl
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl.utils.escape import unescape

from stream_exports.links.signing import sign_url

from ..spreadsheets import FIELDS, LABELS, STATUS_LABELS

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture
def signed_xlsx(signed):
    return partial(signed, format="xlsx")


def body(url: str, **headers: str) -> bytes:
    return b"".join(Client().get(url, headers=headers).streaming_content)


def sheet_rows(data: bytes) -> list[tuple[Any, ...]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return list(sheet.iter_rows(values_only=True))


def records(signed, params: dict[str, Any]) -> list[dict[str, Any]]:
    lines = body(signed(params)).splitlines()
    return [json.loads(line) for line in lines[:-1]]


def expected_cell(name: str, value: Any, zone: dt.tzinfo) -> Any:
    """What a cell holds for an NDJSON value: numbers, wall times in ``zone``, JSON text."""
    if value is None:
        return None
    if name == "amount":
        return float(Decimal(value))
    if name == "created_at":
        return dt.datetime.fromisoformat(value).astimezone(zone).replace(tzinfo=None)
    return value


@pytest.mark.django_db
def test_cells_are_the_ndjson_exports_values_typed(signed, signed_xlsx):
    params = {"limit": 2000}
    with timezone.override(NEW_YORK):  # the zone a request activated: datetimes shown in it
        response = Client().get(signed_xlsx(params))
        data = b"".join(response.streaming_content)
    assert response["Content-Type"] == MEDIA_TYPE
    assert "Content-Length" not in response
    header, *rows = sheet_rows(data)
    assert list(header) == FIELDS
    expected = records(signed, params)
    assert len(rows) == len(expected) == 2000
    for row, record in zip(rows, expected, strict=True):
        for name, cell in zip(FIELDS, row, strict=True):
            value = expected_cell(name, record[name], NEW_YORK)
            if name == "data":
                assert json.loads(cell) == value  # the database's JSON text
            elif name == "created_at":
                assert abs(cell - value) <= dt.timedelta(milliseconds=1), (record["id"], cell)
            elif isinstance(cell, str):
                assert unescape(cell) == value, (record["id"], name)
            else:
                assert cell == value and type(cell) is type(value), (record["id"], name)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet["D2"].number_format == "0.00"  # the amount's two decimal places
    formulas = [cell for cell in sheet["H"] if str(cell.value).startswith("=")]
    assert formulas and {cell.data_type for cell in formulas} == {"s"}  # text, not formulas


@pytest.mark.django_db
def test_labels_give_readable_headers_and_choice_labels(signed_xlsx):
    raw = sheet_rows(body(signed_xlsx({"limit": 100})))
    labelled = sheet_rows(body(signed_xlsx({"limit": 100, "labels": "1"})))
    assert list(labelled[0]) == LABELS
    status = FIELDS.index("status")
    assert {row[status] for row in raw[1:]} <= set(STATUS_LABELS)
    assert [row[status] for row in labelled[1:]] == [STATUS_LABELS[r[status]] for r in raw[1:]]
    assert [row[:status] for row in labelled[1:]] == [row[:status] for row in raw[1:]]


@pytest.mark.django_db
def test_labels_in_csv_too_and_never_in_ndjson(signed, world):
    path = reverse("stream_exports:csv", args=["orders"])
    params = {"limit": 20, "fields": "id,status", "labels": "true"}
    text = body(sign_url(path, world["users"]["staff"], params)).decode()
    header, first = text.splitlines()[:2]
    assert header == "Id,Order status"
    assert first.split(",")[1] in STATUS_LABELS.values()
    refused = Client().get(signed({"labels": "1"}))
    assert refused.status_code == 400
    assert refused.json()["param"] == "labels"


@pytest.mark.django_db
@pytest.mark.parametrize(("param", "value"), [("trailer", "0"), ("bom", "1"), ("labels", "x")])
def test_what_xlsx_does_not_take_is_refused_naming_it(signed_xlsx, param, value):
    response = Client().get(signed_xlsx({param: value}))
    assert response.status_code == 400
    assert response.json()["param"] == param


@pytest.mark.django_db
def test_an_xlsx_export_is_never_compressed_again(signed_xlsx):
    url = signed_xlsx({"limit": 500, "download": "1"})
    response = Client().get(url, headers={"accept-encoding": "gzip, zstd"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response
    assert "Accept-Encoding" not in response.get("Vary", "")
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    assert response["Content-Disposition"].endswith('.xlsx"')
    data = b"".join(response.streaming_content)
    assert data.startswith(b"PK\x03\x04") and len(sheet_rows(data)) == 501


@pytest.mark.django_db
def test_an_xlsx_export_failing_after_its_first_byte_raises_so_the_server_cuts_it(
    signed_xlsx, settings, fails_after_first_batch, audited
):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": False, "CHUNK_SIZE": 100}
    chunks = iter(Client().get(signed_xlsx()).streaming_content)
    assert next(chunks).startswith(b"PK\x03\x04")  # the zip has begun...
    with pytest.raises(RuntimeError, match="disk on fire"):  # ...and never ends
        for _ in chunks:
            pass
    [record] = audited(kind="export", format="xlsx")
    assert (record.outcome, record.rows) == ("failed", 100)


@pytest.mark.django_db
def test_the_listing_and_export_url_give_the_xlsx_url(staff_session, world, capsys):
    [orders] = [d for d in staff_session.get("/exports/").json() if d["name"] == "orders"]
    assert orders["urls"]["xlsx"] == "/exports/orders.xlsx"
    call_command("export_url", "orders", "--user", "staff", "--format", "xlsx", "paid=true")
    url = capsys.readouterr().out.strip()
    assert "/exports/orders.xlsx?" in url and "paid=true" in url
    path = url[url.index("/exports/") :]
    assert Client().get(path)["Content-Type"] == MEDIA_TYPE
