"""Settings of the test project: the test app, from the environment like a real deployment.

The tests' server processes (gunicorn, uvicorn, daphne, workers) read the same
module with the environment the tests give them:

DATABASE_URL     default: SQLite; the tests' database is a file a server can open too
REDIS_URL        a channel layer on Redis; default: in-memory
STREAM_EXPORTS   JSON of stream_exports settings, e.g. {"JOB_RUNNER": "..."}
DATABASE_POOL_SIZE  default 40: PostgreSQL connections per process
CELERY_BROKER_URL  the Celery runner's broker; default: REDIS_URL, else Redis on loopback
MEDIA_ROOT       where job files go (servers and workers: the tests' own)
DJANGO_DEBUG, DJANGO_SECRET_KEY  default: off, and a fixed key for tests only
DJANGO_SECRET_KEY_FALLBACKS  former keys, comma-separated (key rotation)
DJANGO_LOG_LEVEL  e.g. DEBUG: every logger at that level, to the console
SMTP_PORT        mail goes to an SMTP server on 127.0.0.1 at that port (tests/mail.py)
TEST_DB_SUFFIX   keeps two test runs on one machine apart (-a, -b, ...)
PYTEST_XDIST_WORKER  set by pytest-xdist: each worker's databases and media are its own
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import dj_database_url
import django
from corsheaders.defaults import default_headers as default_cors_headers

from stream_exports.aws import settings as aws_settings

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DJANGO_DEBUG", "0").lower() in ("1", "true", "yes")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "tests-only-not-a-secret"
SECRET_KEY_FALLBACKS = [
    key for key in os.environ.get("DJANGO_SECRET_KEY_FALLBACKS", "").split(",") if key
]
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    *(["django_tasks"] if django.VERSION < (6, 0) else []),  # the backport of django.tasks
    "django_tasks_db",
    "stream_exports",
    "tests.testapp",
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",  # first: it answers preflights
    "django.middleware.security.SecurityMiddleware",
    "stream_exports.middleware.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tests.urls"
WSGI_APPLICATION = "tests.wsgi.application"
ASGI_APPLICATION = "tests.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Separate names let two test runs share a machine (TEST_DB_SUFFIX=-a ...), and each
# pytest-xdist worker (gw0, gw1, ...) of one run, with the servers it starts, its own.
_suffix = os.environ.get("TEST_DB_SUFFIX", "")
if _worker := os.environ.get("PYTEST_XDIST_WORKER"):
    _suffix += f"-{_worker}"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # As in production: a pool per process, which the load tests bound the sessions by.
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "40")),
            "timeout": 60,
        }
    }
    DATABASES["default"]["TEST"] = {"NAME": f"test_stream_exports{_suffix.replace('-', '_')}"}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # MariaDB/MySQL as Django's notes on it advise: utf8mb4 (emoji), strict mode.
    DATABASES["default"]["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
    }
    DATABASES["default"]["TEST"] = {
        "NAME": f"test_stream_exports{_suffix.replace('-', '_')}",
        "CHARSET": "utf8mb4",
        "COLLATION": "utf8mb4_unicode_ci",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL: servers' exports read while jobs write; wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not :memory:, so that servers started by the tests see the same rows.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test_db{_suffix}.sqlite3")}

if redis_url := os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis_url]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Job runners on task systems (stream_exports.tasks): Django's task framework with its
# database backend (db_worker), and Celery on a queue of this test run's own.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or redis_url or "redis://127.0.0.1:6379/0"
CELERY_TASK_DEFAULT_QUEUE = f"stream_exports{_suffix}"
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # (docs/jobs.md, Celery: a busy worker reserves no partition)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Job files of test runs (and of the servers the tests start) stay out of the checkout.
MEDIA_ROOT = Path(
    os.environ.get("MEDIA_ROOT")
    or Path(tempfile.gettempdir()) / f"stream_exports_test_media{_suffix}"
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "admin:login"

# Cross-origin front ends (django-cors-headers): the origins allowed to read the exports
# API from a browser, comma-separated (https://app.example.com). Scripts on them use
# signed URLs, so no cookies cross origins.
CORS_ALLOWED_ORIGINS = [
    origin for origin in os.environ.get("DJANGO_CORS_ALLOWED_ORIGINS", "").split(",") if origin
]
CORS_URLS_REGEX = r"^/exports/"
CORS_EXPOSE_HEADERS = ["Content-Disposition", "Retry-After", "Location"]
CORS_ALLOW_HEADERS = (*default_cors_headers, "last-event-id", "cache-control")

# Any stream_exports setting, as JSON: STREAM_EXPORTS='{"JOB_RUNNER": "..."}'.
STREAM_EXPORTS: dict = json.loads(os.environ.get("STREAM_EXPORTS", "{}"))

# Signed URLs' sig hidden from every line the console handler writes and from error reports
# (docs/security.md). DJANGO_LOG_LEVEL (e.g. DEBUG): every logger at that level, to the console.
LOG_LEVEL = os.environ.get("DJANGO_LOG_LEVEL", "")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"hide_signatures": {"()": "stream_exports.http.redaction.HideSignatures"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["hide_signatures"]},
    },
    "loggers": {
        "stream_exports": {"handlers": ["console"], "level": "INFO"},
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}
if LOG_LEVEL:
    LOGGING["formatters"] = {"named": {"format": "%(levelname)s %(name)s: %(message)s"}}
    LOGGING["handlers"]["console"]["formatter"] = "named"
    LOGGING["root"] = {"handlers": ["console"], "level": LOG_LEVEL}
    LOGGING["loggers"] = {"django": {"level": LOG_LEVEL}}  # (to the root's console)
DEFAULT_EXCEPTION_REPORTER = "stream_exports.http.redaction.ExceptionReporter"

# Django 6.1 sends mail through MAILERS (without it, sending warns); 5.2 and 6.0 ignore it.
# Tests send to Django's outbox either way.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
if smtp_port := os.environ.get("SMTP_PORT"):
    # A server or worker the tests start: its mail to their SMTP server on loopback.
    from tests.mail_settings import smtp_settings

    globals().update(smtp_settings(int(smtp_port)))


def s3_storages(bucket: str, endpoint: str | None, **options: str) -> dict:
    """``STORAGES`` with job files ("jobs") in ``bucket`` of the S3 API at ``endpoint``."""
    return {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "jobs": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                **options,
            },
        },
    }


if bucket := os.environ.get("EXPORTS_BUCKET"):
    # Job files on S3 (tests: moto's server on loopback), as on Lambda: JOB_STORAGE="jobs".
    STORAGES = s3_storages(bucket, os.environ.get("EXPORTS_S3_ENDPOINT_URL"))

# As the demo project on Lambda (deploy local's run.sh): HTTPS at the gateway, public prefixes.
if aws_settings.behind_api_gateway():
    globals().update(aws_settings.gateway_settings())
    MIDDLEWARE.insert(0, aws_settings.MIDDLEWARE)
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        **globals().get("STORAGES", {}),
        "staticfiles": {"BACKEND": aws_settings.STATIC_STORAGE},
    }
