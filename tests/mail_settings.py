"""Django's settings that send mail to an SMTP server on loopback (tests/mail.py starts one).

Its own module, free of third-party imports: the tests' settings read it.
"""

from __future__ import annotations

from typing import Any

import django

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def smtp_settings(port: int) -> dict[str, Any]:
    """The settings that send mail to the SMTP server at 127.0.0.1:``port``: MAILERS on
    Django 6.1 (which refuses EMAIL_* beside it), EMAIL_* before (where MAILERS means
    nothing)."""
    if django.VERSION >= (6, 1):
        options = {"host": "127.0.0.1", "port": port, "timeout": 10}
        return {"MAILERS": {"default": {"BACKEND": SMTP_BACKEND, "OPTIONS": options}}}
    return {
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": port,
        "EMAIL_TIMEOUT": 10,
    }
