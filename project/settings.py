"""Settings of the demo project: twelve-factor, from the environment.

DATABASE_URL  default: SQLite file db.sqlite3 in the checkout
REDIS_URL     default: in-memory channel layer
STREAM_EXPORTS  JSON of stream_exports settings, e.g. {"JOB_RUNNER": "..."}
DATABASE_POOL_SIZE  default 40: PostgreSQL connections per process
DJANGO_DEBUG  default: 1 (the demo); set 0 in production, with DJANGO_SECRET_KEY
DJANGO_SECRET_KEY_FALLBACKS  former keys, comma-separated: key rotation (docs/security.md)
DJANGO_LOG_LEVEL  e.g. DEBUG: every logger at that level, to the console
DJANGO_SERVE_STATIC  1: serve the admin's static files with WhiteNoise (on Lambda)
EXPORTS_BUCKET  an S3 bucket for job files (django-storages), else MEDIA_ROOT
DJANGO_EMAIL_HOST, DJANGO_EMAIL_PORT  the SMTP server job mails go to (default: with
              DEBUG, printed in the server's output; else localhost:25)
DJANGO_DEFAULT_FROM_EMAIL  their sender (default: Django's, webmaster@localhost)

On Lambda (AWS_LAMBDA_FUNCTION_NAME; DJANGO_BEHIND_API_GATEWAY=0/1 overrides), the
settings for API Gateway: HTTPS at the gateway (SECURE_PROXY_SSL_HEADER, secure cookies,
HSTS), ALLOWED_HOSTS the execute-api hosts of AWS_REGION and DJANGO_CUSTOM_DOMAINS
(comma-separated, also CSRF_TRUSTED_ORIGINS), and each request under its public prefix
(the stage on the execute-api URL), see stream_exports.aws.gateway.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dj_database_url
import django
from corsheaders.defaults import default_headers as default_cors_headers
from django.core.management.utils import get_random_secret_key

from stream_exports.aws import settings as aws_settings

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DJANGO_DEBUG", "1").lower() in ("1", "true", "yes")


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, or (DEBUG only) a key made once and kept in .secret_key."""
    if key := os.environ.get("DJANGO_SECRET_KEY"):
        return key
    if not DEBUG:
        raise RuntimeError("Set DJANGO_SECRET_KEY: DEBUG is off.")
    path = BASE_DIR / ".secret_key"
    if not path.exists():
        path.write_text(get_random_secret_key())
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# Rotating the key: the old one here keeps sessions and signed URLs made with it working.
SECRET_KEY_FALLBACKS = [
    key for key in os.environ.get("DJANGO_SECRET_KEY_FALLBACKS", "").split(",") if key
]

ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [
    origin for origin in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if origin
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "stream_exports",
    "project.demo",
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

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A pool per process: hundreds of watchers and exports share a few connections,
    # and a burst of requests waits for one instead of exceeding max_connections.
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "40")),
            "timeout": 60,
        }
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # MariaDB/MySQL as Django's notes on it advise: utf8mb4 (emoji), strict mode. Exports
    # read keyset pages there (Django streams no result set on MySQL).
    DATABASES["default"]["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
    }
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets exports read while jobs write; wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

if redis_url := os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis_url]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

if os.environ.get("DJANGO_SERVE_STATIC") == "1":
    # Static files straight from the apps (no collectstatic step in the package), by a
    # WhiteNoise made at the first request for one (not at every cold start).
    MIDDLEWARE.insert(1, "project.static.LazyWhiteNoiseMiddleware")
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_STATIC_PREFIX = f"/{STATIC_URL}"

if bucket := os.environ.get("EXPORTS_BUCKET"):
    # Job files where every Lambda sandbox (the jobs function and the app) can read them.
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            # EXPORTS_S3_ENDPOINT_URL: an S3 API elsewhere than AWS (tests: moto on loopback).
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": os.environ.get("EXPORTS_S3_ENDPOINT_URL"),
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

if aws_settings.behind_api_gateway():
    globals().update(aws_settings.gateway_settings())
    MIDDLEWARE.insert(0, aws_settings.MIDDLEWARE)
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        **globals().get("STORAGES", {}),
        "staticfiles": {"BACKEND": aws_settings.STATIC_STORAGE},
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "admin:login"

# Mail: "your export is ready" when a background job ends (docs/jobs.md). The demo prints
# it in the server's output; otherwise SMTP, with a timeout, so that a mail server that
# does not answer cannot hold a worker.
if DEBUG and not os.environ.get("DJANGO_EMAIL_HOST"):
    _mailer: dict[str, Any] = {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
else:
    _mailer = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ.get("DJANGO_EMAIL_HOST", "localhost"),
            "port": int(os.environ.get("DJANGO_EMAIL_PORT", "25")),
            "timeout": 10,
        },
    }
if django.VERSION >= (6, 1):
    MAILERS = {"default": _mailer}
else:  # (MAILERS is Django 6.1's; before it, the EMAIL_* settings)
    EMAIL_BACKEND = _mailer["BACKEND"]
    _smtp = _mailer.get("OPTIONS", {})
    EMAIL_HOST, EMAIL_PORT = _smtp.get("host", "localhost"), _smtp.get("port", 25)
    EMAIL_TIMEOUT = _smtp.get("timeout")
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "webmaster@localhost")

# Cross-origin front ends (django-cors-headers): the origins allowed to read the exports
# API from a browser, comma-separated (https://app.example.com). Scripts on them use
# signed URLs, so no cookies cross origins.
CORS_ALLOWED_ORIGINS = [
    origin for origin in os.environ.get("DJANGO_CORS_ALLOWED_ORIGINS", "").split(",") if origin
]
CORS_URLS_REGEX = r"^/exports/"
CORS_EXPOSE_HEADERS = ["Content-Disposition", "Retry-After", "Location"]
CORS_ALLOW_HEADERS = (*default_cors_headers, "last-event-id", "cache-control")

# Any stream_exports setting, as JSON: STREAM_EXPORTS='{"JOB_RUNNER": "..."}'. Exporting
# orders takes their own permission, demo.export_order (seed_demo gives it to the demo user).
STREAM_EXPORTS: dict = {
    "EXPORT_PERMISSION": "export",
    **json.loads(os.environ.get("STREAM_EXPORTS", "{}")),
}

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
