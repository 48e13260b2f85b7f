"""``sig`` values hidden from log records and from Django's error reports."""

from __future__ import annotations

import logging
import sys
from urllib.parse import quote

import django
import pytest
from django.core import mail
from django.test import RequestFactory
from django.utils.log import AdminEmailHandler
from gunicorn.glogging import SafeAtoms

from stream_exports.http.redaction import HideSignatures, hide_signatures

TOKEN = "eyJ1IjoiMSJ9:1tXyZa:abc-DEF_123"

#: Where error mails go (Django 6 takes addresses; 5.2 takes (name, address) pairs).
ADMINS = ["ops@example.com"] if django.VERSION >= (6,) else [("Ops", "ops@example.com")]


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        (f"/exports/orders.ndjson?sig={TOKEN}", "/exports/orders.ndjson?sig=[hidden]"),
        (
            f"GET /x?limit=1&sig={quote(TOKEN)}&after=3 HTTP/1.1",
            "GET /x?limit=1&sig=[hidden]&after=3 HTTP/1.1",
        ),
        (
            f"next=%2Fexports%2Fx%3Fsig%3D{quote(TOKEN, safe='')}",
            "next=%2Fexports%2Fx%3Fsig%3D[hidden]",
        ),
        (
            f'"referer": "https://a.example/x?sig={TOKEN}"',
            '"referer": "https://a.example/x?sig=[hidden]"',
        ),
        ("signal=1&design=2&mysig=keep", "signal=1&design=2&mysig=keep"),
        # Issue 25: a percent-encoded key is the same parameter to Django (%73 is "s").
        (f"GET /x?limit=1&%73ig={TOKEN} HTTP/1.1", "GET /x?limit=1&%73ig=[hidden] HTTP/1.1"),
        (f"GET /x?%73%69%67={TOKEN}", "GET /x?%73%69%67=[hidden]"),
        (f"GET /x?s%69g%3d{TOKEN}", "GET /x?s%69g%3d[hidden]"),
        (f"GET /x?%53IG={TOKEN}&a=1", "GET /x?%53IG=[hidden]&a=1"),
        (f"GET /x?SIG={TOKEN}", "GET /x?SIG=[hidden]"),
        (f"next=%2Fx%3F%2573ig%3D{TOKEN}", "next=%2Fx%3F%2573ig%3D[hidden]"),
        ("signal=1&%6Dysig=keep&design=%73ignal", "signal=1&%6Dysig=keep&design=%73ignal"),
    ],
)
def test_every_form_of_a_sig_value_is_hidden(text, hidden):
    assert hide_signatures(text) == hidden


def filtered(msg: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    record = logging.LogRecord("gunicorn.error", logging.ERROR, __file__, 1, msg, args, exc_info)
    assert HideSignatures().filter(record)  # (never drops a record)
    return record


def test_uvicorns_access_line_keeps_its_arguments_less_the_value():
    record = filtered(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/x?sig={TOKEN}", "1.1", 200
    )
    assert record.args == ("127.0.0.1:5", "GET", "/x?sig=[hidden]", "1.1", 200)
    assert record.getMessage() == '127.0.0.1:5 - "GET /x?sig=[hidden] HTTP/1.1" 200'


def test_gunicorns_access_atoms_are_hidden_in_place():
    atoms = SafeAtoms({"r": f"GET /x?sig={TOKEN} HTTP/1.1", "q": f"sig={TOKEN}", "s": "200"})
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, "%(r)s %(q)s %(s)s", (atoms,), None
    )
    HideSignatures().filter(record)
    assert record.args is atoms  # (its own lookups of headers kept)
    assert record.getMessage() == "GET /x?sig=[hidden] HTTP/1.1 sig=[hidden] 200"


def test_a_traceback_and_a_request_in_the_arguments_are_hidden():
    try:
        raise ValueError(f"bad /x?sig={TOKEN}")
    except ValueError:
        record = filtered(
            "Error handling request %s",
            RequestFactory().get(f"/x?sig={TOKEN}"),
            exc_info=sys.exc_info(),
        )
    assert TOKEN not in record.getMessage() and "sig=[hidden]" in record.getMessage()
    assert TOKEN not in logging.Formatter().format(record)


@pytest.mark.django_db
def test_the_error_mail_to_admins_holds_no_sig(settings):
    settings.ADMINS = ADMINS
    request = RequestFactory().get("/exports/orders.ndjson", {"limit": "1", "sig": TOKEN})
    handler = AdminEmailHandler(include_html=True)
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "django.request",
        logging.ERROR,
        __file__,
        1,
        "Internal Server Error: %s",
        (request.path,),
        exc_info,
    )
    record.request = request
    handler.emit(record)
    [message] = mail.outbox
    html = message.alternatives[0][0]
    for text in (message.subject, message.body, html):
        assert TOKEN not in text and quote(TOKEN) not in text and quote(TOKEN, safe="") not in text
    assert "[hidden]" in message.body and "disk on fire" in message.body
