"""``manage.py export_url``: a working signed URL, or a refusal naming the problem."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PATH = "/exports/orders.ndjson"


def test_export_url_command_prints_a_working_url(world):
    url = call_command(
        "export_url", "orders", "--user", "staff", "paid=true", "limit=2", stdout=StringIO()
    )
    assert url.startswith(PATH + "?paid=true&limit=2&sig=")
    lines = b"".join(Client().get(url).streaming_content).splitlines()
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothing", "--user", "staff"], "unknown dataset 'nothing'; known: orders."),
        (["orders", "--user", "ghost"], "no user 'ghost'."),
        (["orders", "--user", "plain"], "user 'plain' may not export 'orders'."),
        (["orders", "--user", "staff", "paid=maybe"], "paid: Enter true or false"),
        (["orders", "--user", "staff", "paid"], "'paid' is not name=value"),
        (["orders", "--user", "staff", "--expires", "0"], "expires must be between 1 and"),
    ],
)
def test_export_url_command_refuses_bad_input(world, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("export_url", *args, stdout=StringIO())
