"""Deterministic demo orders: the same rows for the same (rows, seed), on any database."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

COLUMNS = (
    "id", "customer", "email", "amount", "quantity", "created_at", "paid", "note", "data"
)  # fmt: skip

FIRST = ["Ana", "Björn", "Chloé", "Dmitri", "Eun-ji", "Fatima", "Grace", "Hiro", "Ïsolde", "José"]
LAST = ["Smith", "Müller", "O'Brien", "Nakamura", "Łukasz", "García", "Øster", "Zhang 张", "Dubois"]
# Notes that break naive line-based consumers: every line separator there is.
TRICKY_NOTES = [
    "line one\nline two",
    "carriage\rreturn",
    "windows\r\nline end",
    "unicode line\u2028separator",
    "paragraph\u2029separator",
    "next line\u0085(NEL)",
    'quotes " and \\ backslash',
    "emoji 📦🚚✅ and tab\there",
    "form\x0cfeed, vertical\x0btab, file\x1csep",
]
PLAIN_NOTES = ["leave at the door", "gift wrap", "call before delivery", "déjà vu", "fragile"]
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def order_rows(rows: int, seed: int = 0) -> Iterator[tuple[Any, ...]]:
    """``rows`` orders as tuples in ``COLUMNS`` order, ids 1..rows."""
    rng = random.Random(seed)
    moment = START
    for pk in range(1, rows + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        moment += dt.timedelta(seconds=rng.randint(1, 120), microseconds=rng.randint(0, 999_999))
        roll = rng.random()
        if roll < 0.3:
            note = None
        elif roll < 0.45:
            note = rng.choice(TRICKY_NOTES)
        else:
            note = rng.choice(PLAIN_NOTES)
        yield (
            pk,
            f"{first} {last}",
            f"{first.lower()}.{pk}@example.com",
            Decimal(rng.randint(100, 99_999_99)).scaleb(-2),
            rng.randint(1, 20),
            moment,
            rng.random() < 0.7,
            note,
            {
                "sku": f"SKU-{rng.randint(1, 5000):05d}",
                "tags": rng.sample(["red", "blue", "green", "xl", "sale", "new"], 2),
                "weight_g": rng.randint(10, 20_000),
                "gift": {"wrap": rng.random() < 0.1, "message": None},
            },
        )
