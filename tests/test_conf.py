"""Settings: read from ``settings.STREAM_EXPORTS`` at every access, as the default's type."""

from __future__ import annotations

import pytest
from django.test import override_settings

from stream_exports.conf import Setting, Settings, conf

pytestmark = pytest.mark.django_db


def test_settings_are_read_at_every_access(settings):
    assert conf.CHUNK_SIZE == 2000
    settings.STREAM_EXPORTS = {"CHUNK_SIZE": 10}
    assert conf.CHUNK_SIZE == 10


def other_value(setting: Setting) -> object:
    """A value of the setting's type that is not its default."""
    default = setting.default
    if isinstance(default, bool):
        return not default
    if isinstance(default, str):
        return default + ".other"
    return default * 3 + 1


@pytest.mark.parametrize("setting", list(Settings.declared()), ids=lambda s: s.name)
def test_every_setting_follows_override_settings(setting):
    value = other_value(setting)
    with override_settings(STREAM_EXPORTS={setting.name: value}):
        assert getattr(conf, setting.name) == value
    with override_settings(STREAM_EXPORTS={}):
        assert getattr(conf, setting.name) == setting.default


@pytest.mark.parametrize(
    ("name", "given", "read"),
    [
        ("JOB_HEARTBEAT", 3, 3.0),
        ("CHUNK_SIZE", "500", 500),
        ("SSE_RETRY_MS", 2500.0, 2500),
        ("COPY_FAST_PATH", 0, False),
        ("SIGNING_SALT", 7, "7"),
    ],
)
def test_a_value_is_cast_to_the_defaults_type(settings, name, given, read):
    settings.STREAM_EXPORTS = {name: given}
    value = getattr(conf, name)
    assert value == read
    assert type(value) is type(getattr(Settings, name).default)


def test_every_setting_says_what_it_is_for():
    for setting in Settings.declared():
        assert setting.name.isupper() and setting.help and setting.section, setting.name
