"""Encoding: lossless, stable, and one line per record however lines are split."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_exports.core import encoding

SEPARATORS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

VALUES = {
    "decimal": Decimal("12345678.90"),
    "datetime": dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=dt.UTC),
    "offset": dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    "date": dt.date(1999, 12, 31),
    "time": dt.time(12, 30, 0, 5),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "json": {"nested": [1, 2.5, None, True, "é"], "big": 2**70},
    "text": f'every separator: {SEPARATORS} quotes " \\ emoji 📦',
    "none": None,
    "bool": False,
}


def test_values_encode_losslessly():
    (line,) = encoding.encode_rows(list(VALUES), [tuple(VALUES.values())]).splitlines()
    decoded = json.loads(line)
    assert Decimal(decoded["decimal"]) == VALUES["decimal"]
    assert decoded["decimal"] == "12345678.90"
    assert dt.datetime.fromisoformat(decoded["datetime"]) == VALUES["datetime"]
    assert decoded["datetime"] == "2024-02-29T23:59:59.123456+00:00"
    assert dt.datetime.fromisoformat(decoded["offset"]) == VALUES["offset"]
    assert decoded["date"] == "1999-12-31"
    assert decoded["time"] == "12:30:00.000005"
    assert uuid.UUID(decoded["uuid"]) == VALUES["uuid"]
    assert decoded["json"] == VALUES["json"]
    assert decoded["text"] == VALUES["text"]
    assert decoded["none"] is None
    assert decoded["bool"] is False


@pytest.mark.parametrize("char", list(SEPARATORS))
def test_no_line_separator_survives_raw(char):
    data = encoding.encode_rows(["a", "b"], [(char, {"k": char * 3}), (char, None)])
    assert data.count(b"\n") == 2 and data.endswith(b"\n")
    assert len(data.splitlines()) == 2
    assert len(data.decode().splitlines()) == 2
    assert [json.loads(line)["a"] for line in data.decode().splitlines()] == [char, char]


#: Text full of the separators and of what shares their UTF-8 bytes (U+0080-00BF starts
#: with C2 like U+0085; U+2000-203F with E2 80 like U+2028/2029; A8/A9 end many others).
NEIGHBOURS = st.text(
    st.sampled_from('\x85\u2028\u2029\x80\xa0\xa9\u2027\u202a\u2014\u20ac\u00e9\u0168\u0169a"\\')
    | st.characters(codec="utf-8"),  # (no lone surrogates: no database stores one)
    max_size=40,
)


@given(st.lists(NEIGHBOURS, min_size=1, max_size=8))
def test_any_text_is_one_line_a_value_and_decodes_back(texts):
    data = encoding.encode_rows(["t"], [(text,) for text in texts])
    lines = data.decode().splitlines()
    assert [json.loads(line)["t"] for line in lines] == texts


@pytest.mark.parametrize("dashes", [0, 10, 1000], ids=["sparse", "some", "dense"])
def test_separators_are_escaped_however_many_characters_share_their_first_byte(dashes):
    """Em dashes start with E2 80 as U+2028/U+2029 do, and U+00A9 with C2 as U+0085."""
    text = ("\u2014" * dashes + "\u2028x\x85\u2029\u00a9") * 3
    data = encoding.encode_rows(["t"], [(text,), (text[::-1],)])
    for raw in "\x85\u2028\u2029":
        assert raw.encode() not in data
    assert [json.loads(line)["t"] for line in data.splitlines()] == [text, text[::-1]]
    assert data.count(b"\\u2028") == 6 and data.count(b"\\u0085") == 6


def test_a_batch_orjson_cannot_encode_is_written_by_the_standard_library_the_same_way():
    values = {**VALUES, "json": {"nested": [1, 2.5, None, True, "é"]}}  # (no huge integer)
    rows = [tuple(values.values())] * 3
    fast = encoding.encode_rows(list(values), rows)  # orjson
    huge = [(*row, 2**70) for row in rows]  # orjson refuses the batch: one value too big
    slow = encoding.encode_rows([*values, "big"], huge)
    assert slow == b"".join(
        line[:-2] + b',"big":' + str(2**70).encode() + b"}\n" for line in fast.splitlines(True)
    )


def test_extra_values_beyond_the_names_are_left_out():
    assert encoding.encode_rows(["a"], [(1, 99)]) == b'{"a":1}\n'


def test_no_rows_no_bytes():
    assert encoding.encode_rows(["a"], []) == b""


JSON_TEXT = '{"b": [1, 2.50, null], "a": "é \u2028"}'  # as a database writes it


def test_json_text_is_embedded_as_the_database_wrote_it():
    data = encoding.encode_rows(["id", "data"], [(1, JSON_TEXT), (2, None)], {"data"})
    first, second = data.decode().splitlines()
    assert json.loads(first) == {"id": 1, "data": json.loads(JSON_TEXT)}
    assert json.loads(second) == {"id": 2, "data": None}
    assert "\u2028" not in data.decode(), "a raw separator inside the JSON text is escaped"
    # no decode and encode again: spacing, key order and 2.50 stay
    assert first == '{"id":1,"data":' + JSON_TEXT.replace("\u2028", "\\u2028") + "}"


def test_json_text_beside_a_value_orjson_cannot_encode_falls_back():
    data = encoding.encode_rows(["big", "data"], [(2**70, JSON_TEXT)], {"data"})
    assert json.loads(data) == {"big": 2**70, "data": json.loads(JSON_TEXT)}
