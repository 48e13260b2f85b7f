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


@pytest.mark.parametrize(
    "url", ["example.com", "/exports/", "ftp://example.com/", "https://", "https://h/?a=1"]
)
def test_a_public_url_that_is_not_an_absolute_http_url_is_e013(settings, url):
    settings.STREAM_EXPORTS = {"PUBLIC_URL": url}
    (message,) = checks.check_settings()
    assert message.id == "stream_exports.E013"
    assert repr(url) in message.msg and "https://example.com/prefix/" in message.hint


@pytest.mark.parametrize("url", ["", "https://example.com/", "http://127.0.0.1:8000/app/"])
def test_an_absolute_public_url_or_none_is_silent(settings, url):
    settings.STREAM_EXPORTS = {"PUBLIC_URL": url}
    assert checks.check_settings() == []


def test_a_read_database_that_is_no_alias_is_e014(settings):
    settings.STREAM_EXPORTS = {"READ_DATABASE": "replika"}
    (message,) = checks.check_settings()
    assert message.id == "stream_exports.E015"
    assert "'replika'" in message.msg and "default" in message.hint
    settings.STREAM_EXPORTS = {"READ_DATABASE": "default"}
    assert checks.check_settings() == []


def test_the_lambda_runner_needs_a_function(settings):
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.LambdaRunner"}
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


@pytest.mark.parametrize("permission", ["view", "export", "change"])
def test_an_export_permission_the_model_declares_is_silent(settings, permission):
    settings.STREAM_EXPORTS = {"EXPORT_PERMISSION": permission}  # (export_order: in its Meta)
    assert checks.check_datasets() == []


def test_an_export_permission_the_model_lacks_is_w012(settings, monkeypatch):
    settings.STREAM_EXPORTS = {"EXPORT_PERMISSION": "publish"}
    registry = Registry()
    registry.register(Dataset("orders", Order.objects.all(), ["id"]))
    registry.register(Dataset("ruled", Order.objects.all(), ["id"], permission=bool))  # own rule
    monkeypatch.setattr(checks, "registry", registry)
    (warning,) = checks.check_datasets()
    assert warning.id == "stream_exports.W012"
    assert warning.msg == (
        "Dataset 'orders': its access rule asks for permission 'testapp.publish_order' "
        "(EXPORT_PERMISSION 'publish'), which testapp.Order does not declare: only superusers "
        "may export it."
    )
    assert warning.hint.startswith('Add ("publish_order", "Can publish order") to Order.Meta')


GOOD = {
    "JOB_RUNNER": "stream_exports.runners.WorkerRunner",
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
        ("myproject.jobs.Runner", "Give the dotted path of a runner class"),
        ("stream_exports.runners.NoSuchRunner", "Give the dotted path of a runner class"),
    ],
)
def test_a_runner_that_cannot_be_imported_is_e006(settings, runner, hint):
    settings.STREAM_EXPORTS = {**GOOD, "JOB_RUNNER": runner, "JOB_LAMBDA_FUNCTION": "jobs"}
    (error,) = checks.check_jobs()
    assert error.id == "stream_exports.E006"
    assert error.msg.startswith(f"STREAM_EXPORTS['JOB_RUNNER'] {runner!r} cannot be imported")
    assert error.hint.startswith(hint)
    assert "'stream_exports.runners.WorkerRunner'" in error.hint


@pytest.mark.parametrize(
    ("runner", "now"),
    [
        ("stream_exports.jobs.runners.ThreadRunner", "stream_exports.runners.ThreadRunner"),
        ("stream_exports.aws.runner.LambdaRunner", "stream_exports.runners.LambdaRunner"),
        ("stream_exports.tasks.celery.CeleryRunner", "stream_exports.runners.CeleryRunner"),
    ],
)
def test_a_runner_named_by_a_path_that_moved_works_and_is_w008(settings, runner, now):
    settings.STREAM_EXPORTS = {**GOOD, "JOB_RUNNER": runner, "JOB_LAMBDA_FUNCTION": "jobs"}
    (warning,) = checks.check_jobs()
    assert warning.id == "stream_exports.W008"
    assert runner in warning.msg and "moved" in warning.msg
    assert warning.hint.startswith(f"Use {now!r}")


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


def test_a_per_user_stream_cap_that_reaches_a_pool_is_w009(settings, monkeypatch):
    from django.conf import settings as django_settings

    from stream_exports.checks import check_caps

    default = django_settings.DATABASES["default"]  # (as the tests' settings make a pool)
    pooled = {**default, "OPTIONS": {**default.get("OPTIONS", {}), "pool": {"max_size": 8}}}
    monkeypatch.setitem(django_settings.DATABASES, "default", pooled)
    settings.STREAM_EXPORTS = {"MAX_STREAMS_PER_USER": 8}
    [warning] = check_caps()
    assert warning.id == "stream_exports.W009"
    assert "MAX_STREAMS_PER_USER (8)" in warning.msg and "pool (8)" in warning.msg
    settings.STREAM_EXPORTS = {"MAX_STREAMS_PER_USER": 7}
    assert check_caps() == []
    pooled["OPTIONS"]["pool"] = True  # psycopg's own default: 4
    assert [w.id for w in check_caps()] == ["stream_exports.W009"]
    settings.STREAM_EXPORTS = {"MAX_STREAMS_PER_USER": 0}  # no cap
    assert check_caps() == []


@pytest.mark.parametrize(
    ("mine", "every"), [("MAX_STREAMS_PER_USER", "MAX_STREAMS"), ("MAX_JOBS_PER_USER", "MAX_JOBS")]
)
def test_a_per_user_cap_larger_than_the_sites_is_w010(settings, mine, every):
    from stream_exports.checks import check_caps

    settings.STREAM_EXPORTS = {mine: 5, every: 4}
    assert [w.id for w in check_caps()] == ["stream_exports.W010"]
    settings.STREAM_EXPORTS = {mine: 4, every: 4}
    assert check_caps() == []
    settings.STREAM_EXPORTS = {mine: 5, every: 0}  # no site cap
    assert check_caps() == []


def test_a_cap_of_zero_is_no_cap_and_a_negative_one_an_error(settings):
    from stream_exports.checks import check_settings

    settings.STREAM_EXPORTS = {"MAX_STREAMS": 0, "MAX_JOBS_PER_USER": 0, "AUDIT_RETENTION_ROWS": 0}
    assert check_settings() == []
    settings.STREAM_EXPORTS = {"MAX_JOBS": -1}
    assert [e.id for e in check_settings()] == ["stream_exports.E004"]
