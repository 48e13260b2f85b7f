"""Settings for stream_exports, read in one place from ``settings.STREAM_EXPORTS``.

Every read goes through a property, so ``override_settings`` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Rows fetched from the database and encoded per chunk sent to the client.
    "CHUNK_SIZE": 2000,
    # How rows leave the database: "cursor" (server-side cursor), "keyset"
    # (pages of CHUNK_SIZE ordered by the cursor field) or "auto" (cursor where
    # the backend streams, keyset otherwise, e.g. DISABLE_SERVER_SIDE_CURSORS).
    "ENGINE": "auto",
    # On PostgreSQL, let the database write the JSON lines (COPY) when every
    # exported field allows it: several times faster than the ORM path.
    "COPY_FAST_PATH": True,
    # Seconds between ": keepalive" comments on idle SSE and log streams.
    "HEARTBEAT": 15.0,
    # Seconds between database polls when progress is not pushed.
    "POLL_INTERVAL": 0.5,
    # Default lifetime, in seconds, of a signed URL.
    "SIGNED_URL_EXPIRES": 3600,
    # Longest lifetime, in seconds, a signed URL may be given or is accepted with.
    "SIGNED_URL_MAX_AGE": 7 * 24 * 3600,
    # Salt that keeps these signatures apart from the project's other ones.
    "SIGNING_SALT": "stream_exports.url",
    # Dotted path of the class that starts jobs: in-process threads (the demo),
    # the `manage.py export_worker` queue, or your own (stream_exports.runners).
    "JOB_RUNNER": "stream_exports.runners.ThreadRunner",
    # Function that LambdaRunner invokes asynchronously for each job (name or ARN).
    "JOB_LAMBDA_FUNCTION": "",
    # Alias in settings.STORAGES that job files are written to.
    "JOB_STORAGE": "default",
    # Seconds between a running job's heartbeats, and after which a silent one fails.
    "JOB_HEARTBEAT": 2.0,
    "JOB_STALE_AFTER": 20.0,
    # Least seconds between two progress events of a job.
    "JOB_PROGRESS_INTERVAL": 0.25,
    # Count the rows before a job starts, so progress has a total.
    "JOB_COUNT_TOTAL": True,
    # Streams (exports, event and log streams) open at once, per process: in all, per user.
    "MAX_STREAMS": 1000,
    "MAX_STREAMS_PER_USER": 50,
}


class Settings:
    """Typed access to ``settings.STREAM_EXPORTS`` with documented defaults."""

    def _get(self, name: str) -> Any:
        return getattr(settings, "STREAM_EXPORTS", {}).get(name, DEFAULTS[name])

    @property
    def CHUNK_SIZE(self) -> int:
        return int(self._get("CHUNK_SIZE"))

    @property
    def ENGINE(self) -> str:
        return str(self._get("ENGINE"))

    @property
    def COPY_FAST_PATH(self) -> bool:
        return bool(self._get("COPY_FAST_PATH"))

    @property
    def HEARTBEAT(self) -> float:
        return float(self._get("HEARTBEAT"))

    @property
    def POLL_INTERVAL(self) -> float:
        return float(self._get("POLL_INTERVAL"))

    @property
    def SIGNED_URL_EXPIRES(self) -> int:
        return int(self._get("SIGNED_URL_EXPIRES"))

    @property
    def SIGNED_URL_MAX_AGE(self) -> int:
        return int(self._get("SIGNED_URL_MAX_AGE"))

    @property
    def SIGNING_SALT(self) -> str:
        return str(self._get("SIGNING_SALT"))

    @property
    def JOB_RUNNER(self) -> str:
        return str(self._get("JOB_RUNNER"))

    @property
    def JOB_LAMBDA_FUNCTION(self) -> str:
        return str(self._get("JOB_LAMBDA_FUNCTION"))

    @property
    def JOB_STORAGE(self) -> str:
        return str(self._get("JOB_STORAGE"))

    @property
    def JOB_HEARTBEAT(self) -> float:
        return float(self._get("JOB_HEARTBEAT"))

    @property
    def JOB_STALE_AFTER(self) -> float:
        return float(self._get("JOB_STALE_AFTER"))

    @property
    def JOB_PROGRESS_INTERVAL(self) -> float:
        return float(self._get("JOB_PROGRESS_INTERVAL"))

    @property
    def JOB_COUNT_TOTAL(self) -> bool:
        return bool(self._get("JOB_COUNT_TOTAL"))

    @property
    def MAX_STREAMS(self) -> int:
        return int(self._get("MAX_STREAMS"))

    @property
    def MAX_STREAMS_PER_USER(self) -> int:
        return int(self._get("MAX_STREAMS_PER_USER"))


conf = Settings()
