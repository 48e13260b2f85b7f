"""System checks: one id per problem, with what to change."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite

from stream_exports import checks
from stream_exports.admin import ExportActionsMixin
from stream_exports.core.datasets import Dataset, Registry
from tests.testapp.models import Order

from .http.test_redaction import ADMINS

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


def test_error_mails_that_would_hold_a_sig_are_warned_about(settings):
    settings.ADMINS = ADMINS
    assert checks.check_error_reports() == []  # (the test settings hide it)
    settings.DEFAULT_EXCEPTION_REPORTER = "django.views.debug.ExceptionReporter"
    (warning,) = checks.check_error_reports()
    assert warning.id == "stream_exports.W007"
    assert "stream_exports.http.redaction.ExceptionReporter" in warning.hint
    settings.ADMINS = []
    assert checks.check_error_reports() == []  # no mails, nothing to hide


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


GOOD = {
    "JOB_RUNNER": "stream_exports.jobs.runners.WorkerRunner",
    "JOB_STORAGE": "default",
    "JOB_HEARTBEAT": 1,  # an int will do for a float
    "JOB_STALE_AFTER": 4.5,
    "CHUNK_SIZE": 10,
    "COPY_FAST_PATH": False,
}


def test_good_settings_are_silent(settings):
    settings.STREAM_EXPORTS = GOOD
    assert checks.check_settings() == []
    assert checks.check_jobs() == []


@pytest.mark.parametrize(
    ("key", "value", "wanted"),
    [
        ("CHUNK_SIZE", "2000", "int"),
        ("COPY_FAST_PATH", "yes", "bool"),
        ("JOB_HEARTBEAT", "2s", "float"),
        ("JOB_RUNNER", None, "str"),
    ],
)
def test_a_value_of_the_wrong_type_is_e003(settings, key, value, wanted):
    settings.STREAM_EXPORTS = {**GOOD, key: value}
    (error,) = checks.check_settings()
    assert error.id == "stream_exports.E003"
    assert error.msg == f"STREAM_EXPORTS[{key!r}] is {value!r}; it must be a {wanted}."
    assert error.hint.startswith("The default is ")
    assert checks.check_jobs() == []  # reported once, by check_settings


@pytest.mark.parametrize(
    ("runner", "hint"),
    [
        (
            "stream_exports.runners.ThreadRunner",
            "It moved: use 'stream_exports.jobs.runners.ThreadRunner'.",
        ),
        (
            "stream_exports.runners.LambdaRunner",
            "It moved: use 'stream_exports.aws.runner.LambdaRunner'.",
        ),
        ("myproject.jobs.Runner", "Give the dotted path of a runner class."),
    ],
)
def test_a_runner_that_cannot_be_imported_is_e006(settings, runner, hint):
    settings.STREAM_EXPORTS = {**GOOD, "JOB_RUNNER": runner, "JOB_LAMBDA_FUNCTION": "jobs"}
    (error,) = checks.check_jobs()
    assert error.id == "stream_exports.E006"
    assert error.msg.startswith(f"STREAM_EXPORTS['JOB_RUNNER'] {runner!r} cannot be imported")
    assert error.hint == hint


def test_a_storage_alias_that_does_not_exist_is_e008(settings):
    settings.STREAM_EXPORTS = {**GOOD, "JOB_STORAGE": "exports"}
    (error,) = checks.check_jobs()
    assert error.id == "stream_exports.E008"
    assert "'exports', not an alias of STORAGES" in error.msg
    assert error.hint == "Aliases: default, staticfiles."


@pytest.mark.parametrize("heartbeat", [4.5, 10])
def test_a_heartbeat_not_shorter_than_stale_after_is_e009(settings, heartbeat):
    settings.STREAM_EXPORTS = {**GOOD, "JOB_HEARTBEAT": heartbeat}
    (error,) = checks.check_jobs()
    assert error.id == "stream_exports.E009"
    assert f"JOB_HEARTBEAT ({float(heartbeat)}) must be shorter than JOB_STALE_AFTER" in error.msg


def test_an_admin_mixin_naming_no_dataset_is_e020():
    class ShopAdmin(ExportActionsMixin, admin.ModelAdmin):
        export_dataset = "shop-orders"

    (error,) = ShopAdmin(Order, AdminSite()).check()
    assert error.id == "stream_exports.E020"
    assert (
        error.msg == "ShopAdmin.export_dataset is 'shop-orders', which names no registered dataset."
    )
    assert error.hint == "Registered datasets: orders."
    assert error.obj is ShopAdmin


def test_an_admin_mixin_naming_its_dataset_is_silent():
    assert admin.site.get_model_admin(Order).check() == []
