"""System checks: settings, middleware and datasets, with what to change."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import FieldError

from .conf import DEFAULTS, conf
from .datasets import Dataset, registry
from .engine import ENGINES


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``STREAM_EXPORTS`` holds only known keys with usable values."""
    errors = []
    given = getattr(settings, "STREAM_EXPORTS", {})
    if not isinstance(given, dict):
        return [Error("STREAM_EXPORTS must be a dict.", id="stream_exports.E001")]
    for key in sorted(set(given) - set(DEFAULTS)):
        errors.append(
            Error(
                f"STREAM_EXPORTS has unknown key {key!r}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="stream_exports.E001",
            )
        )
    if conf.ENGINE not in ENGINES:
        errors.append(
            Error(
                f"STREAM_EXPORTS['ENGINE'] is {conf.ENGINE!r}.",
                hint=f"Use one of: {', '.join(ENGINES)}.",
                id="stream_exports.E001",
            )
        )
    for key in ("CHUNK_SIZE", "HEARTBEAT", "POLL_INTERVAL", "SIGNED_URL_EXPIRES"):
        if getattr(conf, key) <= 0:
            errors.append(
                Error(f"STREAM_EXPORTS[{key!r}] must be positive.", id="stream_exports.E001")
            )
    if conf.JOB_RUNNER.endswith(".LambdaRunner") and not conf.JOB_LAMBDA_FUNCTION:
        errors.append(
            Error(
                "STREAM_EXPORTS['JOB_RUNNER'] is LambdaRunner but JOB_LAMBDA_FUNCTION is empty.",
                hint="Set JOB_LAMBDA_FUNCTION to the jobs function's name or ARN.",
                id="stream_exports.E001",
            )
        )
    return errors


@register(Tags.compatibility)
def check_gzip(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
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


def _dataset_errors(dataset: Dataset) -> list[Error]:
    where = f"Dataset {dataset.name!r}"
    try:
        cursor = dataset.cursor_field
    except Exception as exc:
        message = f"{where}: cursor {dataset.cursor!r} is not a field ({exc})."
        return [Error(message, id="stream_exports.E002")]
    errors = []
    if not (cursor.primary_key or cursor.unique) or cursor.null:
        errors.append(
            Error(
                f"{where}: cursor field {cursor.name!r} must be unique and not null.",
                hint="Rows are ordered and resumed by it; use the primary key or a unique field.",
                id="stream_exports.E002",
            )
        )
    try:
        dataset.model._default_manager.values_list(*dataset.fields)
    except FieldError as exc:
        errors.append(Error(f"{where}: {exc}", id="stream_exports.E003"))
    return errors


@register(Tags.models)
def check_datasets(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Every registered dataset has a usable cursor and real fields."""
    return [error for dataset in registry for error in _dataset_errors(dataset)]
