"""The NDJSON stream: a failure after the first byte ends it with an error trailer."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from ..streams import body_lines

pytestmark = pytest.mark.django_db


def get(signed: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return Client().get(signed(params), **kwargs)


def test_failure_after_the_first_byte_ends_with_an_error_trailer(
    signed, fails_after_first_batch, caplog, settings
):
    settings.STREAM_EXPORTS = {"COPY_FAST_PATH": False}  # (PostgreSQL's fails for real elsewhere)
    lines = body_lines(get(signed, {"limit": 5000}))
    assert len(lines) == 2001
    assert lines[-1] == {
        "_stream": {
            "status": "error",
            "error": "export failed (server error, RuntimeError); the server log has the cause",
            "retry": False,  # not the database's connection: resuming would fail again
            "rows": 2000,
            "last": 2000,
        }
    }
    assert "disk on fire" in caplog.text
