"""Call again after a failure that may pass, with exponential backoff."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests

from .errors import GaveUp, Unavailable

__all__ = ["RETRIED", "retrying"]

T = TypeVar("T")

#: Failures that a new request may not meet: the network, or a transient refusal.
RETRIED: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    Unavailable,
)


def retrying(
    attempt: Callable[[], Iterator[T]],
    retries: int,
    backoff: float,
    what: str,
    errors: tuple[type[BaseException], ...] = RETRIED,
    on_retry: Callable[[], None] = lambda: None,
) -> Iterator[T]:
    """Items of ``attempt()``, calling it again after ``errors`` with exponential backoff;
    the count of failures in a row resets whenever an item comes through."""
    failures = 0
    while True:
        try:
            for item in attempt():
                failures = 0
                yield item
            return
        except errors as exc:
            failures += 1
            if failures > retries:
                raise GaveUp(f"gave up {what} after {retries} retries: {exc}") from exc
            on_retry()
            time.sleep(backoff * 2 ** (failures - 1))
