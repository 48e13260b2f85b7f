"""The audit trail of exports: one row each, inserted as it starts and ended as it ends,
refusals included, and a structured line per event on ``stream_exports.audit``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from stream_exports.http.views import export
from stream_exports.links.signing import sign_url
from stream_exports.models import AuditRecord, LinkRevocation

from ..streams import hang_up

pytestmark = pytest.mark.django_db

LOGGER = "stream_exports.audit"
AGENT = "curl/8.5.0"


@pytest.fixture
def audit_lines(caplog: Any) -> Any:
    """The audit log lines so far (as the JSON their messages are)."""
    caplog.set_level("INFO", logger=LOGGER)

    def read() -> list[dict[str, Any]]:
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER]

    return read


def get(url: str, **headers: str) -> Any:
    """A GET read to its end."""
    response = Client().get(url, HTTP_USER_AGENT=AGENT, **headers)
    if response.streaming:
        response.body = b"".join(response.streaming_content)
    return response


def test_a_signed_export_is_one_row_from_start_to_end_and_two_lines(
    world, signed, audit_lines, audited
):
    url = signed({"paid": "true", "fields": "id,amount", "limit": 7})
    response = get(url, HTTP_ACCEPT_ENCODING="gzip")
    [row] = audited()
    staff = world["users"]["staff"]
    assert (row.kind, row.dataset, row.format, row.via) == ("export", "orders", "ndjson", "signed")
    assert (row.user, row.username) == (staff, "staff")
    assert row.params == {"paid": "true", "fields": "id,amount", "limit": "7"}  # no sig
    assert row.fields == ["id", "amount"]
    assert (row.outcome, row.status, row.rows, row.bytes) == (
        "complete",
        200,
        7,
        len(response.body),
    )
    assert (row.client, row.user_agent, row.reason) == ("127.0.0.1", AGENT, "")
    assert row.started_at <= row.ended_at
    start, end = audit_lines()
    assert (start["audit"], start["id"], start["outcome"]) == ("start", row.pk, "open")
    assert (end["audit"], end["id"], end["outcome"], end["rows"]) == ("end", row.pk, "complete", 7)
    assert end["params"] == row.params


def test_a_session_export_in_csv_says_session(world, audited):
    client = Client()
    client.force_login(world["users"]["staff"])
    response = client.get(reverse("stream_exports:csv", args=["orders"]) + "?limit=3")
    b"".join(response.streaming_content)
    [row] = audited()
    assert (row.format, row.via, row.rows, row.outcome) == ("csv", "session", 3, "complete")


def test_an_export_the_client_leaves_is_cut(signed, settings, audited):
    settings.STREAM_EXPORTS = {"CHUNK_SIZE": 10, "COPY_FAST_PATH": False}
    response = export(RequestFactory().get(signed({"limit": 100})), "orders", "ndjson")
    first = next(iter(response.streaming_content))
    hang_up(response)
    [row] = audited()
    assert (row.outcome, row.bytes) == ("cut", len(first))
    assert 0 < row.rows < 100


def test_a_failing_export_is_failed_with_its_reason(
    signed, settings, fails_after_first_batch, audited
):
    settings.STREAM_EXPORTS = {"CHUNK_SIZE": 10, "ENGINE": "cursor", "COPY_FAST_PATH": False}
    get(signed({"limit": 100}))
    [row] = audited()
    assert (row.outcome, row.rows) == ("failed", 10)
    assert "RuntimeError" in row.reason


def refused_row(url: str, status: int, audited: Any) -> AuditRecord:
    """The audit row of a GET of ``url`` refused with ``status``."""
    before = len(audited())
    assert get(url).status_code == status
    rows = audited()
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row.outcome, row.status) == ("refused", status)
    assert row.rows is None and row.ended_at is not None
    return row


def test_refusals_are_audited_with_who_and_why(world, signed, exporter, audited):
    path = reverse("stream_exports:ndjson", args=["orders"])
    forged = refused_row(path + "?limit=1&sig=forged", 403, audited)
    assert (forged.user, forged.via) == (None, "signed")
    assert forged.reason == "signed URL is not valid (bad signature)."
    assert forged.params == {"limit": "1"}  # (never sig)

    eve = exporter("eve")
    revoked = sign_url(path, eve, {"limit": 2})
    LinkRevocation.objects.revoke(eve)
    row = refused_row(revoked, 403, audited)
    assert row.user == eve  # the link verified: whose it was is known
    assert row.reason.startswith("signed URL was revoked")

    bad = refused_row(signed({"limit": 1}).replace("limit=1", "limit=1&paid=maybe"), 403, audited)
    assert bad.reason == "signed URL does not allow changing its filters, fields or limit."

    plain = refused_row(sign_url(path, world["users"]["plain"]), 404, audited)
    assert plain.user == world["users"]["plain"]
    assert plain.reason == "you may not export dataset 'orders'."

    unsigned = Client()
    unsigned.force_login(world["users"]["staff"])
    assert unsigned.get(path + "?paid=maybe").status_code == 400
    param = audited()[-1]
    assert (param.via, param.user) == ("session", world["users"]["staff"])
    assert (param.params, param.reason) == ({"paid": "maybe"}, param.reason)
    assert param.reason.startswith("paid: Enter true or false")


def test_a_refusal_of_a_long_unknown_name_is_audited_cut_to_fit(world, audited):
    name = "x" * 300
    client = Client()
    client.force_login(world["users"]["staff"])
    assert client.get(f"/exports/{name}.ndjson", HTTP_USER_AGENT="a" * 1000).status_code == 404
    [row] = audited()
    assert (row.dataset, row.user_agent) == ("x" * 64, "a" * 300)


def test_a_refusal_of_a_nul_character_is_audited_with_it_replaced(world, audited):
    """PostgreSQL's text and jsonb hold no NUL: the row keeps U+FFFD in its place."""
    client = Client()
    client.force_login(world["users"]["staff"])
    path = reverse("stream_exports:ndjson", args=["orders"])
    assert client.get(path, {"paid": "tr\x00ue", "x\x00": "1"}).status_code == 400
    [row] = audited()
    assert row.params == {"paid": "tr\ufffdue", "x\ufffd": "1"}
    assert "\x00" not in row.reason and row.outcome == "refused"


def test_the_client_address_is_the_trusted_proxys_entry(signed, settings, audited):
    forwarded = "203.0.113.9, 198.51.100.7"  # (the first is whatever the client claimed)
    settings.STREAM_EXPORTS = {"AUDIT_TRUSTED_PROXIES": 1}
    get(signed({"limit": 1}), HTTP_X_FORWARDED_FOR=forwarded)
    settings.STREAM_EXPORTS = {"AUDIT_TRUSTED_PROXIES": 2}
    get(signed({"limit": 1}), HTTP_X_FORWARDED_FOR=forwarded)
    settings.STREAM_EXPORTS = {"AUDIT_TRUSTED_PROXIES": 3}
    get(signed({"limit": 1}), HTTP_X_FORWARDED_FOR=forwarded)  # fewer entries than proxies
    settings.STREAM_EXPORTS = {}
    get(signed({"limit": 1}), HTTP_X_FORWARDED_FOR=forwarded)
    clients = [row.client for row in audited()]
    assert clients == ["198.51.100.7", "203.0.113.9", None, "127.0.0.1"]


def test_with_auditing_off_there_is_no_row_and_no_line(signed, settings, audit_lines, audited):
    settings.STREAM_EXPORTS = {"AUDIT": False}
    assert get(signed({"limit": 1})).status_code == 200
    assert get(signed({"limit": 1}) + "x").status_code == 403
    assert audited() == []
    assert audit_lines() == []


def test_no_row_or_line_holds_the_signature(signed, audit_lines, audited):
    url = signed({"limit": 2})
    [sig] = parse_qs(urlsplit(url).query)["sig"]
    get(url)
    get(url + "tampered")
    assert len(audited()) == 2
    rows = json.dumps(list(AuditRecord.objects.values()), default=str)
    assert '"sig"' not in rows and sig[:20] not in rows
    assert sig[:20] not in json.dumps(audit_lines())


def test_refusals_of_unauthenticated_requests_are_counted_per_client_and_minute(world, audited):
    """Issue 25: every refused request, even a 401 with no user, inserted a row holding what
    it sent; a flood buried the real entries."""
    path = reverse("stream_exports:ndjson", args=["orders"])
    for number in range(30):
        assert Client().get(path, {"limit": number + 1}).status_code == 401
    for _ in range(20):
        assert Client().get(path, {"sig": "forged"}).status_code == 403
    assert Client().get(path, REMOTE_ADDR="203.0.113.5").status_code == 401
    assert Client().post("/exports/orders/jobs").status_code == 401
    rows = audited()
    assert [(r.kind, r.status, r.client, r.count) for r in rows] == [
        ("export", 401, "127.0.0.1", 30),
        ("export", 403, "127.0.0.1", 20),
        ("export", 401, "203.0.113.5", 1),
        ("job", 401, "127.0.0.1", 1),
    ]
    first = rows[0]
    assert (first.user, first.params, first.outcome) == (None, {"limit": "1"}, "refused")
    assert first.ended_at >= first.started_at


def test_the_parameters_and_reason_a_row_keeps_are_bounded_and_say_so(world, audited, settings):
    settings.STREAM_EXPORTS = {"AUDIT_MAX_CHARS": 300}
    client = Client()
    client.force_login(world["users"]["staff"])
    path = reverse("stream_exports:ndjson", args=["orders"])
    sent = {f"p{number}": "v" * 100 for number in range(50)}
    assert client.get(path, {"x" * 2000: "1", **sent}).status_code == 400
    [row] = audited()
    assert len(json.dumps(row.params)) <= 400
    whole = len(json.dumps({"x" * 2000: "1", **sent}, ensure_ascii=False))
    assert row.params["[cut]"] == f"{whole:,} characters of parameters were sent; [cut] these fit"
    assert set(row.params) == {"[cut]", "p0", "p1"}  # (the long one does not fit; then in order)
    assert len(row.reason) <= 300 and row.reason.endswith("[cut]")
