"""System checks: one id per problem, with what to change."""

from __future__ import annotations

import pytest

from stream_exports import checks
from stream_exports.core.datasets import Dataset, Registry
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_unknown_or_bad_settings_are_errors(settings):
    settings.STREAM_EXPORTS = {"CHUNK_SIZ": 1, "ENGINE": "fast", "HEARTBEAT": 0}
    messages = checks.check_settings()
    assert ids(messages) == ["stream_exports.E002", "stream_exports.E005", "stream_exports.E004"]
    assert "unknown key 'CHUNK_SIZ'" in messages[0].msg
    assert "'fast'" in messages[1].msg and "cursor" in messages[1].hint
    assert "HEARTBEAT" in messages[2].msg


def test_the_lambda_runner_needs_a_function(settings):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.aws.runner.LambdaRunner"}
    (message,) = checks.check_jobs()
    assert message.id == "stream_exports.E007"
    assert "JOB_LAMBDA_FUNCTION is empty" in message.msg
    settings.STREAM_EXPORTS["JOB_LAMBDA_FUNCTION"] = "jobs"
    assert checks.check_jobs() == []


def test_the_test_settings_pass_every_check():
    assert checks.check_settings() == []
    assert checks.check_jobs() == []
    assert checks.check_gzip() == []
    assert checks.check_datasets() == []


def test_djangos_gzip_middleware_is_warned_about(settings):
    settings.MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware", *settings.MIDDLEWARE]
    (warning,) = checks.check_gzip()
    assert warning.id == "stream_exports.W001"
    assert "stream_exports.middleware.GZipMiddleware" in warning.hint


def test_datasets_with_a_bad_cursor_or_field_are_errors(monkeypatch):
    registry = Registry()
    registry.register(Dataset("by-email", Order.objects.all(), ["id"], cursor="email"))
    registry.register(Dataset("by-note", Order.objects.all(), ["id"], cursor="note"))
    registry.register(Dataset("ghost", Order.objects.all(), ["id", "colour"]))
    monkeypatch.setattr(checks, "registry", registry)
    messages = checks.check_datasets()
    assert ids(messages) == ["stream_exports.E011", "stream_exports.E011", "stream_exports.E012"]
    assert "'email' must be unique and not null" in messages[0].msg
    assert "colour" in messages[2].msg
