"""Settings: read from ``settings.STREAM_EXPORTS`` at every access."""

from __future__ import annotations

import pytest

from stream_exports.conf import conf

pytestmark = pytest.mark.django_db


def test_settings_are_read_at_every_access(settings):
    assert conf.CHUNK_SIZE == 2000
    settings.STREAM_EXPORTS = {"CHUNK_SIZE": 10}
    assert conf.CHUNK_SIZE == 10
