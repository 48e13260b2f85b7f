"""Debian's chromium, headless, as the browser tests launch it (Playwright downloads none)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Skips a module's tests where Debian's chromium is not installed (.ci/run installs it).
needs_chromium = pytest.mark.skipif(
    not shutil.which("chromium"), reason="Debian's chromium is not installed"
)


@contextmanager
def chromium(*flags: str) -> Iterator[Any]:
    """A headless Chromium (with ``flags`` too), closed after the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, *flags])
        yield instance
        instance.close()
