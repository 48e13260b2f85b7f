"""The demo project's settings, plus django-import-export and the contenders at /bench/.

``BENCH_FORWARD`` (the SSE load's other contenders, bench/forward.py): ``eventstream``
installs django-eventstream as its README sets it up, with Redis (``REDIS_URL``) so
that the worker's events reach the server, and storage for reliable delivery (and
ids); ``redis`` publishes each job event for the sse-starlette app.

django-eventstream's storage is the one it ships in Redis: the README's database
storage reads in each stream's own thread (Django's thread per ASGI request), whose
connection stays open as long as the stream, so that 100 streams ran the pool (40
connections) dry: 40 of them got their events.
"""

import os
from urllib.parse import urlsplit

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "import_export"]
ROOT_URLCONF = "bench.urls"
# django-import-export's XLSX refuses the control characters XML forbids (the demo notes
# have some) unless this, its documented setting, replaces them (with U+FFFD).
IMPORT_EXPORT_ESCAPE_ILLEGAL_CHARS_ON_EXPORT = True

BENCH_FORWARD = os.environ.get("BENCH_FORWARD", "")
if BENCH_FORWARD:
    INSTALLED_APPS.append("bench")
if BENCH_FORWARD == "eventstream":
    INSTALLED_APPS.append("django_eventstream")
    _redis = urlsplit(os.environ["REDIS_URL"])
    EVENTSTREAM_REDIS = {
        "host": _redis.hostname,
        "port": _redis.port or 6379,
        "db": int(_redis.path.strip("/") or 0),
    }
    EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.RedisStorage"
    EVENTSTREAM_STORAGE_CONNECTION = EVENTSTREAM_REDIS
