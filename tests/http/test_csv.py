"""``GET /exports/<name>.csv``: the NDJSON export's rows and access, as CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import pytest
import requests
from django.db import connection
from django.test import Client
from django.urls import reverse

from stream_exports.core.datasets import registry
from stream_exports.links.signing import sign_url

FIELDS = "id,customer,amount,created_at,paid,note,data,status"


@pytest.fixture
def signed_csv(world: dict[str, Any]):
    def make(params: dict[str, Any] | None = None, user: str = "staff") -> str:
        path = reverse("stream_exports:csv", args=["orders"])
        return sign_url(path, world["users"][user], params or {})

    return make


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


#: The text fields (a decimal is a string in NDJSON, but a number).
TEXTS = {"customer", "email", "note", "status"}
#: The first characters of a text a spreadsheet runs as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_cell(value: Any, text: bool = False, escaped: bool = False) -> str:
    """NDJSON's ``value`` as the CSV writes it; a ``text`` that starts like a formula with
    a ``'`` first when ``escaped``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if text and escaped and value.startswith(FORMULA_STARTS):
        return "'" + value
    return str(value)


@pytest.mark.django_db
@pytest.mark.parametrize("database", [True, False], ids=["database", "python"])
@pytest.mark.parametrize("escaped", [True, False])
def test_csv_has_a_header_and_the_same_values_as_ndjson(
    signed, signed_csv, settings, escaped, database
):
    mariadb = getattr(connection, "mysql_is_mariadb", False)
    if database and connection.vendor != "postgresql" and not mariadb:
        pytest.skip("rows written by PostgreSQL and MariaDB only")
    # (not escaped: for machine consumers)
    settings.STREAM_EXPORTS = {"CSV_ESCAPE_FORMULAS": escaped, "COPY_FAST_PATH": database}
    params = {"fields": FIELDS, "limit": 3000}
    response = Client().get(signed_csv(params))
    assert response["Content-Type"] == "text/csv; charset=utf-8; header=present"
    assert "Content-Length" not in response
    table = rows_of(b"".join(response.streaming_content))
    ndjson = b"".join(Client().get(signed(params)).streaming_content).splitlines()[:-1]
    records = [json.loads(line) for line in ndjson]
    assert table[0] == FIELDS.split(",")
    assert len(table) == len(records) + 1
    formulas = 0
    for row, record in zip(table[1:], records, strict=True):
        for text, name in zip(row, FIELDS.split(","), strict=True):
            value = record[name]
            if isinstance(value, dict | list):  # the database's own JSON text, as NDJSON's
                assert json.loads(text) == value
            else:
                assert text == as_cell(value, name in TEXTS, escaped)
                formulas += name == "note" and text.startswith(("'=", "'+", "'-", "'@", "'\t"))
    assert bool(formulas) is escaped, formulas  # (the seeded notes hold formulas)
    negative = [row for row in table[1:] if row[2].startswith("-")]
    assert negative, "a refund"  # a negative amount: a number, never escaped


@pytest.mark.django_db
def test_csv_takes_filters_after_and_bom(signed_csv):
    body = b"".join(
        Client()
        .get(signed_csv({"paid": "true", "limit": 5, "bom": 1, "after": 100}))
        .streaming_content
    )
    assert body.startswith("\ufeffid,".encode())
    table = rows_of(body.decode("utf-8-sig").encode())
    assert [int(row[0]) > 100 for row in table[1:]] == [True] * 5


@pytest.mark.django_db
def test_an_offset_no_database_takes_is_filtered_as_its_utc_instant(signed_csv):
    response = Client().get(signed_csv({"created_after": "2024-01-01T00:00:00+16:00"}))
    assert response.status_code == 200
    header, *rows = rows_of(b"".join(response.streaming_content))
    column = header.index("created_at")
    assert rows and all(row[column] >= "2023-12-31T08:00:00" for row in rows)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"trailer": 0}, 400, "trailer"),  # CSV has no trailer
        ({"fields": "id,colour"}, 400, "fields"),
        ({"min_amount": "lots"}, 400, "min_amount"),
    ],
)
def test_bad_input_for_csv_is_refused_like_ndjson(signed_csv, params, status, param):
    response = Client().get(signed_csv(params))
    assert response.status_code == status
    assert response.json()["param"] == param


@pytest.mark.django_db
def test_bom_is_no_parameter_of_ndjson(signed):
    response = Client().get(signed({"bom": 1}))
    assert response.status_code == 400
    assert response.json()["param"] == "bom"


@pytest.mark.django_db
def test_csv_access_is_ndjsons(signed_csv, world):
    assert Client().get(signed_csv(user="plain")).status_code == 404  # (as an unknown one)
    assert (
        Client().get("/exports/orders.csv", headers={"accept": "application/json"}).status_code
        == 401
    )
    assert Client().get("/exports/nothing.csv").status_code in (401, 404)


@pytest.mark.servers
def test_csv_streams_from_real_servers_compressed_or_not(server, signed_csv, world):
    started = time.perf_counter()
    with requests.get(server.url + signed_csv(), stream=True, timeout=60) as response:
        assert response.status_code == 200
        lines = response.iter_lines(chunk_size=65536)
        header = next(lines)
        first = time.perf_counter() - started
        rest = sum(1 for _ in lines)
    total = time.perf_counter() - started
    assert header == ",".join(registry.get("orders").fields).encode()
    assert rest >= world["rows"]  # (quoted newlines in notes add lines, never remove)
    assert first < total / 5, (first, total)
    plain = requests.get(
        server.url + signed_csv(), headers={"Accept-Encoding": "identity"}, timeout=60
    )
    packed = requests.get(
        server.url + signed_csv(), headers={"Accept-Encoding": "zstd"}, timeout=60
    )
    assert packed.headers["Content-Encoding"] == "zstd"
    assert packed.content == plain.content
    assert len(rows_of(plain.content)) == world["rows"] + 1


@pytest.mark.django_db
def test_a_csv_export_failing_after_its_first_byte_raises_so_the_server_cuts_it(
    signed_csv, settings, fails_after_first_batch
):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": False, "CHUNK_SIZE": 100}
    response = Client().get(signed_csv())
    chunks = iter(response.streaming_content)
    assert next(chunks).startswith(b"id,")  # the header, then the first batch...
    assert next(chunks).count(b"\n") >= 100
    with pytest.raises(RuntimeError, match="disk on fire"):  # ...then no clean end
        next(chunks)
