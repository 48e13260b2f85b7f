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


conf = Settings()
