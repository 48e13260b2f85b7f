"""System checks, the GZip guard and settings."""

from __future__ import annotations

import pytest
from django.test import Client

from stream_exports import checks
from stream_exports.conf import conf
from stream_exports.core import filters
from stream_exports.core.datasets import Dataset, Registry
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_settings_are_read_at_every_access(settings):
    assert conf.CHUNK_SIZE == 2000
    settings.STREAM_EXPORTS = {"CHUNK_SIZE": 10}
    assert conf.CHUNK_SIZE == 10


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


@pytest.mark.parametrize(
    ("middleware", "encoding"),
    [("django.middleware.gzip.GZipMiddleware", "gzip"), (None, None)],
)
def test_streams_are_never_gzipped_by_our_middleware(signed, settings, middleware, encoding):
    if middleware:  # Django's own compresses streams: the reason for ours
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "GZip" not in m]
        settings.MIDDLEWARE.insert(1, middleware)
    response = Client().get(signed({"limit": 300}), HTTP_ACCEPT_ENCODING="gzip")
    assert response.get("Content-Encoding") == encoding


def test_our_gzip_middleware_still_compresses_other_responses(world):
    client = Client()
    client.force_login(world["users"]["superuser"])
    response = client.get("/admin/", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"


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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad Name"}, "must be lowercase"),
        ({"fields": []}, "declares no fields"),
    ],
)
def test_dataset_declarations_are_checked(kwargs, message):
    declaration = {"name": "x", "queryset": Order.objects.all(), "fields": ["id"], **kwargs}
    with pytest.raises(Exception, match=message):
        Dataset(**declaration)


def test_a_dataset_is_registered_once():
    registry = Registry()
    registry.register(Dataset("x", Order.objects.all(), ["id"]))
    with pytest.raises(Exception, match="registered twice"):
        registry.register(Dataset("x", Order.objects.all(), ["id"]))


def test_callable_querysets_scope_rows_per_user(world):
    dataset = Dataset(
        "mine",
        lambda user: Order.objects.filter(id__lte=3 if user.is_superuser else 1),
        ["id"],
        model_class=Order,
        filters={"paid": filters.boolean("paid")},
    )
    assert dataset.get_queryset(world["users"]["superuser"]).count() == 3
    assert dataset.get_queryset(world["users"]["staff"]).count() == 1
    assert dataset.cursor_column == "id"
