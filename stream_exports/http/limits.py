"""Caps on streams open at once in this process: in all, and per user."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..conf import conf

__all__ = ["StreamLimiter", "TooManyStreams", "limiter"]


class TooManyStreams(Exception):
    """Over a cap; ``retry_after`` says when to try again (seconds)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = conf.BUSY_RETRY_AFTER


class StreamLimiter:
    """Counts open streams; ``acquire`` returns the (idempotent) release."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: Counter[Any] = Counter()
        self.total = 0

    def acquire(self, user_key: Any) -> Callable[[], None]:
        with self.lock:
            if self.total >= conf.MAX_STREAMS:
                raise TooManyStreams(
                    f"too many streams open on this server ({conf.MAX_STREAMS}); try again soon."
                )
            if self.open[user_key] >= conf.MAX_STREAMS_PER_USER:
                raise TooManyStreams(
                    f"you have {conf.MAX_STREAMS_PER_USER} streams open, the most allowed; "
                    "close one or try again soon."
                )
            self.open[user_key] += 1
            self.total += 1
        released = False

        def release() -> None:
            nonlocal released
            with self.lock:
                if released:
                    return
                released = True
                self.open[user_key] -= 1
                self.total -= 1
                if not self.open[user_key]:
                    del self.open[user_key]

        return release


limiter = StreamLimiter()
