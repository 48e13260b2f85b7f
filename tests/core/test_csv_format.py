"""The CSV wire format: values as the NDJSON export writes them, quoted so they round-trip."""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.http import QueryDict
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from stream_exports.conf import conf
from stream_exports.core.datasets import Dataset, registry
from stream_exports.core.exports import Export
from stream_exports.core.formats.base import Position, WriteOptions
from stream_exports.core.formats.csv import (
    BOM,
    CSV,
    FORMULA_STARTS,
    cell,
    csv_rows,
    inert,
    inert_cell,
)
from stream_exports.core.mariadb import csv_expression, line_expression
from stream_exports.core.pgcopy import csv_sql, line_sql
from stream_exports.core.query import parse_export_query
from tests.testapp.models import Order

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


FORMULAS = ['=HYPERLINK("http://x","y")', "+1+2", "-3+3", "@SUM(1,2)", "\t=1+1", "\r=2+2"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_text_a_spreadsheet_would_run_is_written_after_a_quote(text):
    line = csv_rows([(text, 7)], 2, [inert_cell, inert_cell])
    (row,) = csv.reader(io.StringIO(line.decode(), newline=""))
    assert row == ["'" + text, "7"]


def test_what_no_spreadsheet_runs_is_written_as_it_is():
    texts = ["", "a=b", "x-1", "'=1", "12", "é=", " =1"]
    assert [inert(text) for text in texts] == texts
    numbers = [decimal.Decimal("-12.50"), -3, -1.5, None, False]
    assert [inert_cell(value) for value in numbers] == ["-12.50", "-3", "-1.5", "", "false"]


def test_a_header_label_is_a_text_like_any_other():
    dataset = Dataset(
        "formulas", Order.objects.all(), ["id", "customer"], labels={"customer": "=Customer"}
    )
    options = WriteOptions(labels=True)
    export = Export.of_rows(dataset, Order.objects.all(), ["id", "customer"], CSV(), options)
    chunks = export.chunks()
    assert next(chunks) == b"Id,'=Customer\n"
    chunks.close()  # (before any row is read)


# The same conventions through the database: rows written here (Python's csv writer) and
# by the database (PostgreSQL's COPY ... FORMAT csv, MariaDB's CONCAT), which must write
# the same bytes.

PATHS = ["python", "database"]
FIELDS = ("id", "customer", "amount", "created_at", "paid", "note", "data", "status")
PLAIN = WriteOptions()


@pytest.fixture(params=PATHS)
def path(request, world, settings):
    """Each path in turn: the database's only on PostgreSQL and MariaDB."""
    if request.param == "database" and not writing_databases():
        pytest.skip("rows written by PostgreSQL and MariaDB only")
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": request.param == "database", "CHUNK_SIZE": 700}
    return request.param


def writing_databases() -> bool:
    return connection.vendor == "postgresql" or getattr(connection, "mysql_is_mariadb", False)


@pytest.fixture
def database_writes(world):
    """Skip where the database writes no CSV rows."""
    if not writing_databases():
        pytest.skip("rows written by PostgreSQL and MariaDB only")


def database_rows(plan, names, starts=()) -> bool:
    """Whether the database (either's path) writes these rows."""
    return csv_sql(plan, names, starts) is not None or (
        csv_expression(plan, names, starts) is not None
    )


def exported(path: str, fields=FIELDS, options=PLAIN, **query: Any) -> bytes:
    """The CSV export of orders ``fields`` for ``query``, asserting which path wrote it."""
    dataset = registry.get("orders")
    parsed = parse_export_query(
        dataset, QueryDict(urlencode({"fields": ",".join(fields), **query}))
    )
    export = Export.of_query(parsed, None)
    export = replace(export, format=CSV(), content=replace(export.content, options=options))
    starts = FORMULA_STARTS if conf.CSV_ESCAPE_FORMULAS else ()
    plan = export.content.plan
    assert database_rows(plan, parsed.fields, starts) == (path == "database"), path
    return b"".join(export.chunks())


def table(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


def new_orders(**columns: list[Any]) -> int:
    """Orders with these columns' values (one order per value), after every other;
    returns the cursor they come after."""
    start = Order.objects.order_by("-id").values_list("id", flat=True).first()
    count = max(len(values) for values in columns.values())
    defaults = {
        "customer": "c",
        "email": "e@example.com",
        "amount": decimal.Decimal("1.00"),
        "quantity": 1,
        "created_at": datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC),
    }
    for index in range(count):
        values = {name: values[index % len(values)] for name, values in columns.items()}
        Order.objects.create(**{**defaults, **values})
    return start


@pytest.mark.django_db
def test_every_text_round_trips_on_each_path(path):
    after = new_orders(customer=TRICKY, note=TRICKY)
    body = exported(path, ("id", "customer", "note"), after=after)
    header, *rows = table(body)
    assert header == ["id", "customer", "note"]
    assert [row[1:] for row in rows] == [[text, text] for text in TRICKY]
    # Byte for byte as Python's writer (an empty text unquoted, a CR quoted):
    records = [(int(row[0]), text, text) for row, text in zip(rows, TRICKY, strict=True)]
    assert body == b"id,customer,note\n" + csv_rows(records, 3)


@pytest.mark.django_db
def test_values_are_written_as_the_ndjson_export_writes_them_on_each_path(path):
    when = [
        datetime.datetime(2024, 1, 1, 0, 0, 6, 271493, tzinfo=datetime.UTC),
        datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC),  # (no fraction)
        datetime.datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=datetime.UTC),
    ]
    amounts = [decimal.Decimal(text) for text in ("12.50", "-12.50", "0.00")]
    after = new_orders(
        created_at=when, amount=amounts, paid=[True, False, True], note=[None, "", "x"],
        data=[{"a": [1, 2]}, {}, {"s": "x,\"y\""}],
    )  # fmt: skip
    _, *rows = table(exported(path, after=after))
    assert [row[2:7] for row in rows] == [
        ["12.50", "2024-01-01T00:00:06.271493+00:00", "true", "", '{"a": [1, 2]}'],
        ["-12.50", "2024-05-01T12:00:00+00:00", "false", "", "{}"],
        ["0.00", "1999-12-31T23:59:59.000001+00:00", "true", "x", '{"s": "x,\\"y\\""}'],
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("escaped", [True, False])
def test_formulas_on_each_path(path, settings, escaped):
    settings.STREAM_EXPORTS = {**settings.STREAM_EXPORTS, "CSV_ESCAPE_FORMULAS": escaped}
    refund = decimal.Decimal("-3.00")
    statuses = [text[:16] for text in FORMULAS]  # (its longest)
    after = new_orders(customer=FORMULAS, note=FORMULAS, amount=[refund], status=statuses)
    _, *rows = table(exported(path, ("id", "customer", "amount", "note", "status"), after=after))
    quote = "'" if escaped else ""
    assert [row[1:] for row in rows] == [
        [quote + text, "-3.00", quote + text, quote + text[:16]] for text in FORMULAS
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("escaped", [True, False])
def test_labels_on_each_path(path, settings, escaped):
    """A choice's label; a value no choice has (a formula too) as it is."""
    settings.STREAM_EXPORTS = {**settings.STREAM_EXPORTS, "CSV_ESCAPE_FORMULAS": escaped}
    after = new_orders(status=["returned", "placed", "lost", "=1+1", ""])
    options = WriteOptions(labels=True, bom=True)
    body = exported(path, ("id", "status", "note"), options, after=after)
    assert body.startswith(BOM)
    header, *rows = table(body[len(BOM) :])
    assert header == ["Id", "Order status", "Note"]
    formula = "'=1+1" if escaped else "=1+1"
    assert [row[1] for row in rows] == ["Returned to sender", "Placed", "lost", formula, ""]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"limit": "20000"},
        {"fields": ",".join(FIELDS[::-1]), "after": "100", "limit": "5000"},
        {"paid": "true", "min_amount": "90000", "created_before": "2024-02-01T00:00:00Z"},
    ],
)
@pytest.mark.parametrize("options", [WriteOptions(), WriteOptions(labels=True, header=False)])
@pytest.mark.parametrize("escaped", [True, False])
def test_the_database_writes_the_python_paths_bytes(
    database_writes, settings, query, options, escaped
):
    """Over the seeded orders, which hold every convention's edge (tests/testapp/seed.py)."""
    bodies = []
    for path in PATHS:
        settings.STREAM_EXPORTS = {
            "COPY_FAST_PATH": path == "database", "CSV_ESCAPE_FORMULAS": escaped,
            "CHUNK_SIZE": 700, "COPY_CHUNK_BYTES": 4096,
        }  # fmt: skip
        fields = query.get("fields", ",".join(FIELDS)).split(",")
        rest = {k: v for k, v in query.items() if k != "fields"}
        bodies.append(exported(path, tuple(fields), options, **rest))
    assert bodies[0] == bodies[1]
    assert bodies[0].count(b"\n") > 100


@pytest.mark.django_db
def test_the_database_keeps_the_position_as_the_python_path(database_writes, settings):
    """Rows and the last cursor, chunk by chunk (a job's checkpoint resumes from it)."""
    positions = []
    for path in PATHS:
        settings.STREAM_EXPORTS = {"COPY_FAST_PATH": path == "database", "COPY_CHUNK_BYTES": 4096}
        dataset = registry.get("orders")
        parsed = parse_export_query(dataset, QueryDict("limit=3001&after=17"))
        export = replace(Export.of_query(parsed, None), format=CSV())
        at = Position()
        seen = [(at.rows, at.last) for _ in export.chunks(at)]
        positions.append((seen[1], (at.rows, at.last)))
    assert positions[0][1] == positions[1][1] == (3001, 3018)
    assert positions[1][0][0] > 0 and positions[1][0][1] == 17 + positions[1][0][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "served"),
    [
        ("id,customer,note", True),
        ("id", True),
        ("customer,note", False),  # (no cursor: NDJSON's database path steps aside too)
    ],
)
def test_csv_takes_the_database_path_exactly_where_ndjson_does(
    database_writes, settings, fields, served
):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": True}
    parsed = parse_export_query(registry.get("orders"), QueryDict(f"fields={fields}"))
    plan = parsed.row_plan(None)
    ndjson = line_sql(plan, parsed.fields) or line_expression(plan, parsed.fields)
    assert (ndjson is not None) is served
    assert database_rows(plan, parsed.fields, FORMULA_STARTS) is served


@pytest.mark.django_db
def test_a_row_of_one_value_on_each_path(path):
    after = new_orders(customer=["x", "y"])
    ids = Order.objects.filter(id__gt=after).values_list("id", flat=True)
    assert exported(path, ("id",), after=after) == f"id\n{ids[0]}\n{ids[1]}\n".encode()


#: Any text, made of what the conventions look at (quotes, separators, formulas' starts)
#: as often as of any other characters.
TEXT = st.lists(
    st.sampled_from(",\"\r\n \t=+-@'\x00\u2028")
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=3),
    max_size=12,
).map("".join)


@pytest.mark.django_db
@given(
    texts=st.lists(TEXT, min_size=1, max_size=5),
    escaped=st.booleans(),
    labels=st.booleans(),
)
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_text_comes_out_as_pythons_writer_writes_it(
    database_writes, settings, texts, escaped, labels
):
    if connection.vendor == "postgresql":
        assume(not any("\x00" in text for text in texts))  # (PostgreSQL stores no NUL)
    statuses = [text[:16] for text in texts] + ["placed"]
    after = new_orders(customer=texts, note=[*texts, None], status=statuses)
    bodies = []
    for path in PATHS:
        settings.STREAM_EXPORTS = {
            "COPY_FAST_PATH": path == "database", "CSV_ESCAPE_FORMULAS": escaped,
        }  # fmt: skip
        options = WriteOptions(labels=labels)
        bodies.append(exported(path, ("id", "customer", "note", "status"), options, after=after))
    assert bodies[0] == bodies[1]
