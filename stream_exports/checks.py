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
``stream_exports.E013``  ``PUBLIC_URL`` is not an absolute http(s) URL
``stream_exports.E014``  ``MAX_PARTITIONS`` is over 1000 (S3's parts are shared among them)
``stream_exports.E015``  ``READ_DATABASE`` names no alias of ``DATABASES``
``stream_exports.E020``  an ``ExportMixin`` (or ``ExportActionsMixin``) names no registered dataset
``stream_exports.W001``  Django's ``GZipMiddleware`` is installed
``stream_exports.W007``  error mails to ``ADMINS`` would hold signed URLs' ``sig``
``stream_exports.W008``  ``JOB_RUNNER`` names a runner by a path that moved
``stream_exports.W009``  ``MAX_STREAMS_PER_USER`` reaches a database's connection pool
``stream_exports.W010``  a per-user cap is larger than the whole site's
``stream_exports.W012``  a dataset's model has no permission ``EXPORT_PERMISSION`` names
=====================  ===========================================================
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import FieldError
from django.core.files.storage import storages
from django.utils.module_loading import import_string

from .conf import Setting, Settings, conf
from .core.datasets import Dataset, registry
from .core.readers import ENGINES
from .http.redaction import ExceptionReporter

__all__ = [
    "check_caps",
    "check_datasets",
    "check_error_reports",
    "check_gzip",
    "check_jobs",
    "check_settings",
]

#: The most partitions a job may have (``MAX_PARTITIONS``): ten S3 parts each, at least.
MOST_PARTITIONS = 1000

#: Where the runners live: ``stream_exports.runners.<class name>``.
RUNNERS = "stream_exports.runners"


def _out_of_range(setting: Setting[Any]) -> str | None:
    """Why a count, size or duration is unusable: it must be positive, or (where 0, its
    default, turns something off) not negative."""
    value = getattr(conf, setting.name)
    if setting.default == 0 or setting.zero_is_off:
        return "must not be negative (0 turns it off)" if value < 0 else None
    return "must be positive" if value <= 0 else None


def _error(message: str, number: int, hint: str | None = None) -> Error:
    return Error(message, hint=hint, id=f"stream_exports.E{number:03d}")


def _warning(message: str, number: int, hint: str) -> Warning:
    return Warning(message, hint=hint, id=f"stream_exports.W{number:03d}")


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
    if conf.MAX_PARTITIONS > MOST_PARTITIONS:
        errors.append(
            _error(
                f"STREAM_EXPORTS['MAX_PARTITIONS'] is {conf.MAX_PARTITIONS}, over "
                f"{MOST_PARTITIONS}: a job's partitions share one S3 upload's 10,000 parts.",
                14,
                f"Give at most {MOST_PARTITIONS}; PARTITION_ROWS sets how large each one is.",
            )
        )
    if conf.PUBLIC_URL and not _is_site(conf.PUBLIC_URL):
        errors.append(
            _error(
                f"STREAM_EXPORTS['PUBLIC_URL'] is {conf.PUBLIC_URL!r}: the links in job mails "
                "would point nowhere.",
                13,
                "Give the absolute URL the app is served under, with its script prefix: "
                "'https://example.com/' or 'https://example.com/prefix/'.",
            )
        )
    if conf.READ_DATABASE and conf.READ_DATABASE not in settings.DATABASES:
        errors.append(
            _error(
                f"STREAM_EXPORTS['READ_DATABASE'] is {conf.READ_DATABASE!r}, not an alias of "
                "DATABASES: exports would fail at their first row.",
                15,
                f"Aliases: {', '.join(settings.DATABASES)}; empty reads where the routers say.",
            )
        )
    return errors


def _is_site(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL with a host and no query or fragment."""
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not (parts.query or parts.fragment)
    )


@register(Tags.compatibility)
def check_jobs(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The job runner imports, Lambda has its function, storage exists, heartbeats fit."""
    if check_settings():
        return []  # reported there
    errors: list[CheckMessage] = []
    runner = conf.JOB_RUNNER
    name = runner.rpartition(".")[2]
    ours = f"{RUNNERS}.{name}"
    try:
        with warnings.catch_warnings():  # (a path that moved warns: W008 says so instead)
            warnings.simplefilter("ignore", DeprecationWarning)
            import_string(runner)
    except ImportError as exc:
        hint = f"Give the dotted path of a runner class, e.g. '{RUNNERS}.WorkerRunner'."
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
    else:
        if runner.startswith("stream_exports.") and runner != ours and name.endswith("Runner"):
            message = f"STREAM_EXPORTS['JOB_RUNNER'] {runner!r} is a path that moved."
            errors.append(_warning(message, 8, f"Use {ours!r} (the old path goes in 1.0)."))
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
    return errors + _permission_warnings(dataset)


def _permission_warnings(dataset: Dataset) -> list[CheckMessage]:
    """The default rule asks for a permission the model declares (read from its Meta, as
    ``migrate`` creates them)."""
    if dataset.permission is not None:
        return []
    opts = dataset.model._meta
    codename = dataset.export_permission.split(".", 1)[1]
    declared = {f"{action}_{opts.model_name}" for action in opts.default_permissions}
    if codename in declared | {name for name, _ in opts.permissions}:
        return []
    return [
        _warning(
            f"Dataset {dataset.name!r}: its access rule asks for permission "
            f"{dataset.export_permission!r} (EXPORT_PERMISSION {conf.EXPORT_PERMISSION!r}), "
            f"which {opts.label} does not declare: only superusers may export it.",
            12,
            f'Add ("{codename}", "Can {conf.EXPORT_PERMISSION} {opts.verbose_name}") to '
            f"{opts.object_name}.Meta.permissions and migrate, or set EXPORT_PERMISSION to "
            "a permission it has (the default, 'view', every model has).",
        )
    ]


@register(Tags.models)
def check_datasets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every registered dataset has a usable cursor, real fields and the permission its
    rule asks for."""
    return [error for dataset in registry for error in _dataset_errors(dataset)]


#: What psycopg's pool holds when ``OPTIONS["pool"]`` is ``True`` (its own default).
PSYCOPG_POOL_DEFAULT = 4


def pool_size(database: Mapping[str, Any]) -> int | None:
    """The most connections a process's pool of ``database`` opens (psycopg's
    ``max_size``, else its ``min_size``), or None when it has no pool."""
    pool = database.get("OPTIONS", {}).get("pool")
    if not pool:
        return None
    if pool is True:
        return PSYCOPG_POOL_DEFAULT
    return int(pool.get("max_size") or pool.get("min_size") or PSYCOPG_POOL_DEFAULT)


@register(Tags.database)
def check_caps(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A user's streams cannot hold every pooled connection of a process; no per-user cap
    is wider than the site's."""
    if check_settings():
        return []  # reported there
    warnings: list[CheckMessage] = []
    per_user = conf.MAX_STREAMS_PER_USER
    for alias, database in settings.DATABASES.items():
        size = pool_size(database)
        if per_user and size is not None and per_user >= size:
            warnings.append(
                _warning(
                    f"MAX_STREAMS_PER_USER ({per_user}) is as many as or more than database "
                    f"{alias!r}'s connection pool ({size}): one user's streams (an export holds "
                    "a connection while it runs) can take every connection of a process, and "
                    "every other request waits for one.",
                    9,
                    f"Set STREAM_EXPORTS['MAX_STREAMS_PER_USER'] below {size}, or raise the "
                    "pool's max_size (DATABASES[...]['OPTIONS']['pool']).",
                )
            )
    for user_cap, site_cap in (
        ("MAX_STREAMS_PER_USER", "MAX_STREAMS"),
        ("MAX_JOBS_PER_USER", "MAX_JOBS"),
    ):
        mine, every = getattr(conf, user_cap), getattr(conf, site_cap)
        if mine and every and mine > every:
            warnings.append(
                _warning(
                    f"STREAM_EXPORTS['{user_cap}'] ({mine}) is larger than {site_cap} ({every}): "
                    "one user could take every place.",
                    10,
                    f"Keep {user_cap} below {site_cap}.",
                )
            )
    return warnings
