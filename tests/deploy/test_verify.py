"""``python -m deploy verify`` fails a buffered or cut body."""

from __future__ import annotations

import pytest

from deploy.__main__ import main as deploy_main

from ..servers import Reply, scripted_server

pytestmark = pytest.mark.once  # (neither the database nor Django's version changes it)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"id": 1}\n{"_stream": {"status": "complete", "rows": 1}}\n', "one burst"),
        (b'{"id": 1}\n{"id": 2}\n', "no trailer"),
        (b'{"id": 1}\n{"_stream": {"status": "error", "error": "db gone"}}\n', "'error'"),
    ],
)
def test_verify_fails_a_buffered_or_cut_body(body, says, capsys):
    # Like a buffered API Gateway route: the whole body at once, at the end.
    with scripted_server(Reply(200, body, delay=0.5)) as (base, _):
        assert deploy_main(["verify", f"{base}/exports/orders.ndjson"]) == 1
    assert says in capsys.readouterr().err
