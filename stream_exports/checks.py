"""System checks: settings, middleware and datasets, one id per problem, with what to change.

=====================  ===========================================================
``stream_exports.E001``  ``STREAM_EXPORTS`` is not a dict
``stream_exports.E002``  ``STREAM_EXPORTS`` has an unknown key
``stream_exports.E003``  a value of the wrong type
``stream_exports.E004``  a number that must be positive is not
``stream_exports.E005``  ``ENGINE`` is not one of the engines
``stream_exports.E006``  ``JOB_RUNNER`` cannot be imported (or its task system refuses its task)
``stream_exports.E007``  ``LambdaRunner`` without ``JOB_LAMBDA_FUNCTION``
``stream_exports.E008``  ``JOB_STORAGE`` names no alias of ``STORAGES``
``stream_exports.E009``  ``JOB_HEARTBEAT`` is not shorter than ``JOB_STALE_AFTER``
``stream_exports.E010``  a dataset's cursor is not a field
``stream_exports.E011``  a dataset's cursor is not unique and not null
``stream_exports.E012``  a dataset names a field its model does not have
``stream_exports.E020``  an ``ExportActionsMixin`` names no registered dataset
``stream_exports.W001``  Django's ``GZipMiddleware`` is installed
``stream_exports.W002``  on Lambda: ``SECURE_PROXY_SSL_HEADER`` does not trust the gateway
``stream_exports.W003``  on Lambda: ``ALLOWED_HOSTS`` refuses the execute-api host
``stream_exports.W004``  on Lambda: ``ALLOWED_HOSTS`` accepts any host (``*``)
``stream_exports.W005``  on Lambda: session or CSRF cookies are not ``Secure``
``stream_exports.W006``  on Lambda: nothing puts requests under the stage's prefix
``stream_exports.W007``  error mails to ``ADMINS`` would hold signed URLs' ``sig``
=====================  ===========================================================
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import FieldError
from django.core.files.storage import storages
from django.http.request import validate_host
from django.utils.module_loading import import_string

from .conf import Setting, Settings, conf
from .core.datasets import Dataset, registry
from .core.readers import ENGINES
from .http.redaction import ExceptionReporter

__all__ = [
    "check_api_gateway",
    "check_datasets",
    "check_error_reports",
    "check_gzip",
    "check_jobs",
    "check_settings",
]

#: Where runners named in earlier versions live now.
MOVED_RUNNERS = {
    "stream_exports.runners.ThreadRunner": "stream_exports.jobs.runners.ThreadRunner",
    "stream_exports.runners.WorkerRunner": "stream_exports.jobs.runners.WorkerRunner",
    "stream_exports.runners.ImmediateRunner": "stream_exports.jobs.runners.ImmediateRunner",
    "stream_exports.runners.LambdaRunner": "stream_exports.aws.runner.LambdaRunner",
}


def _out_of_range(setting: Setting[Any]) -> str | None:
    """Why a count, size or duration is unusable: it must be positive, or (where 0, its
    default, turns something off) not negative."""
    value = getattr(conf, setting.name)
    if setting.default == 0:
        return "must not be negative (0 turns it off)" if value < 0 else None
    return "must be positive" if value <= 0 else None


def _error(message: str, number: int, hint: str | None = None) -> Error:
    return Error(message, hint=hint, id=f"stream_exports.E{number:03d}")


def _unknown_keys(given: dict[str, Any]) -> list[CheckMessage]:
    declared = sorted(setting.name for setting in Settings.declared())
    hint = f"Known keys: {', '.join(declared)}."
    return [
        _error(f"STREAM_EXPORTS has unknown key {key!r}.", 2, hint)
        for key in sorted(set(given) - set(declared))
    ]


def _type_errors(given: dict[str, Any]) -> list[CheckMessage]:
    """Values that are not of their setting's type (an int will do for a float)."""
    declared = {setting.name: setting for setting in Settings.declared()}
    errors: list[CheckMessage] = []
    for key, value in given.items():
        setting = declared.get(key)
        wanted = type(setting.default) if setting is not None else None
        if wanted is None or isinstance(value, wanted) or (wanted is float and _is_int(value)):
            continue
        errors.append(
            _error(
                f"STREAM_EXPORTS[{key!r}] is {value!r}; it must be a {wanted.__name__}.",
                3,
                f"The default is {setting.default!r}." if setting else None,
            )
        )
    return errors


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``STREAM_EXPORTS`` holds only known keys with usable values."""
    given = getattr(settings, "STREAM_EXPORTS", {})
    if not isinstance(given, dict):
        return [_error("STREAM_EXPORTS must be a dict.", 1)]
    errors = _type_errors(given)
    if errors:
        return _unknown_keys(given) + errors  # the values below cannot be read safely
    errors = _unknown_keys(given)
    if conf.ENGINE not in ENGINES:
        hint = f"Use one of: {', '.join(ENGINES)}."
        errors.append(_error(f"STREAM_EXPORTS['ENGINE'] is {conf.ENGINE!r}.", 5, hint))
    for setting in Settings.declared():
        if type(setting.default) in (int, float) and (why := _out_of_range(setting)):
            errors.append(_error(f"STREAM_EXPORTS[{setting.name!r}] {why}.", 4))
    return errors


@register(Tags.compatibility)
def check_jobs(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The job runner imports, Lambda has its function, storage exists, heartbeats fit."""
    if check_settings():
        return []  # reported there
    errors: list[CheckMessage] = []
    runner = conf.JOB_RUNNER
    try:
        import_string(runner)
    except ImportError as exc:
        moved = MOVED_RUNNERS.get(runner)
        hint = f"It moved: use {moved!r}." if moved else "Give the dotted path of a runner class."
        errors.append(
            _error(f"STREAM_EXPORTS['JOB_RUNNER'] {runner!r} cannot be imported: {exc}", 6, hint)
        )
    except Exception as exc:  # its task system refused its task (a TASKS alias, a queue)
        errors.append(
            _error(
                f"STREAM_EXPORTS['JOB_RUNNER'] {runner!r} cannot be imported: "
                f"{type(exc).__name__}: {exc}",
                6,
                "Its task system refused its task: for DjangoTaskRunner, TASKS must have the "
                "alias JOB_TASK_BACKEND names, with JOB_TASK_QUEUE among its QUEUES.",
            )
        )
    if runner.endswith(".LambdaRunner") and not conf.JOB_LAMBDA_FUNCTION:
        errors.append(
            _error(
                "STREAM_EXPORTS['JOB_RUNNER'] is LambdaRunner but JOB_LAMBDA_FUNCTION is empty.",
                7,
                "Set JOB_LAMBDA_FUNCTION to the jobs function's name or ARN.",
            )
        )
    if conf.JOB_STORAGE not in storages.backends:
        errors.append(
            _error(
                f"STREAM_EXPORTS['JOB_STORAGE'] is {conf.JOB_STORAGE!r}, not an alias of STORAGES.",
                8,
                f"Aliases: {', '.join(storages.backends)}.",
            )
        )
    if conf.JOB_HEARTBEAT >= conf.JOB_STALE_AFTER:
        errors.append(
            _error(
                f"JOB_HEARTBEAT ({conf.JOB_HEARTBEAT}) must be shorter than JOB_STALE_AFTER "
                f"({conf.JOB_STALE_AFTER}): every running job would be failed as stale.",
                9,
                "Keep JOB_STALE_AFTER several heartbeats long (the default is 10).",
            )
        )
    return errors


@register(Tags.compatibility)
def check_gzip(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django's GZipMiddleware stalls live streams."""
    if "django.middleware.gzip.GZipMiddleware" not in settings.MIDDLEWARE:
        return []
    return [
        Warning(
            "django.middleware.gzip.GZipMiddleware holds back small chunks of streams: "
            "export, log and event streams would arrive late or all at once.",
            hint="Replace it by 'stream_exports.middleware.GZipMiddleware', which skips streams.",
            id="stream_exports.W001",
        )
    ]


#: What API Gateway sends Lambda Web Adapter, which passes it on: HTTPS is at the gateway.
GATEWAY_PROTO_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
GATEWAY_PREFIX_MIDDLEWARE = "stream_exports.aws.gateway.GatewayPrefixMiddleware"


def _warning(message: str, number: int, hint: str) -> Warning:
    return Warning(message, hint=hint, id=f"stream_exports.W{number:03d}")


@register(Tags.security)
def check_api_gateway(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """On Lambda (behind API Gateway and Lambda Web Adapter): HTTPS at the gateway is
    trusted, the hosts are the gateway's, cookies are Secure, links get the stage."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return []
    docs = "See stream_exports.aws.settings.gateway_settings() and docs/deploy.md."
    warnings: list[CheckMessage] = []
    if tuple(settings.SECURE_PROXY_SSL_HEADER or ()) != GATEWAY_PROTO_HEADER:
        warnings.append(
            _warning(
                "On Lambda, SECURE_PROXY_SSL_HEADER does not trust the gateway's "
                "X-Forwarded-Proto: requests look like http, and session POSTs fail CSRF "
                "unless the app server rewrites the scheme.",
                2,
                f"Set SECURE_PROXY_SSL_HEADER = {GATEWAY_PROTO_HEADER!r}. {docs}",
            )
        )
    region = os.environ.get("AWS_REGION", "us-east-1")
    api_host = f"abcde12345.execute-api.{region}.amazonaws.com"
    if not validate_host(api_host, settings.ALLOWED_HOSTS):
        warnings.append(
            _warning(
                f"On Lambda, ALLOWED_HOSTS refuses the execute-api host ({api_host}).",
                3,
                f"Add '.execute-api.{region}.amazonaws.com' (and your custom domain). {docs}",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        warnings.append(
            _warning(
                "On Lambda, ALLOWED_HOSTS accepts any host ('*').",
                4,
                f"Name the execute-api hosts and your custom domains only. {docs}",
            )
        )
    if not (settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE):
        warnings.append(
            _warning(
                "On Lambda, session or CSRF cookies are not Secure: the gateway is HTTPS only.",
                5,
                "Set SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True.",
            )
        )
    if settings.FORCE_SCRIPT_NAME is None and GATEWAY_PREFIX_MIDDLEWARE not in settings.MIDDLEWARE:
        warnings.append(
            _warning(
                "On Lambda, nothing puts requests under their public prefix: at the "
                "execute-api URL (/<stage>/...) links, redirects and the admin lose the stage.",
                6,
                f"Put {GATEWAY_PREFIX_MIDDLEWARE!r} first in MIDDLEWARE "
                "(or set FORCE_SCRIPT_NAME for one fixed prefix).",
            )
        )
    return warnings


REPORTER = "stream_exports.http.redaction.ExceptionReporter"


@register(Tags.security)
def check_error_reports(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Error mails to ``ADMINS`` hide signed URLs' ``sig`` (Django's report has the query)."""
    try:
        reporter = import_string(settings.DEFAULT_EXCEPTION_REPORTER)
    except ImportError:
        return []  # (Django reports that one itself when it reports an error)
    if not settings.ADMINS or issubclass(reporter, ExceptionReporter):
        return []
    return [
        _warning(
            "Error mails to ADMINS hold the request's URL and query string: a signed URL's "
            "sig, which acts as its user, would be in them.",
            7,
            f"Set DEFAULT_EXCEPTION_REPORTER = {REPORTER!r} (or a subclass of it).",
        )
    ]


def _dataset_errors(dataset: Dataset) -> list[CheckMessage]:
    where = f"Dataset {dataset.name!r}"
    try:
        cursor = dataset.cursor_field
    except Exception as exc:
        return [_error(f"{where}: cursor {dataset.cursor!r} is not a field ({exc}).", 10)]
    errors: list[CheckMessage] = []
    if not (cursor.primary_key or cursor.unique) or cursor.null:
        errors.append(
            _error(
                f"{where}: cursor field {cursor.name!r} must be unique and not null.",
                11,
                "Rows are ordered and resumed by it; use the primary key or a unique field.",
            )
        )
    try:
        dataset.model._default_manager.values_list(*dataset.fields)
    except FieldError as exc:
        errors.append(_error(f"{where}: {exc}", 12))
    return errors


@register(Tags.models)
def check_datasets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every registered dataset has a usable cursor and real fields."""
    return [error for dataset in registry for error in _dataset_errors(dataset)]
