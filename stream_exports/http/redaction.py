"""Keeping signed URLs' ``sig`` out of logs and error reports.

A signed URL is a credential: whoever reads it from a log may use it until it expires.
Nothing this app logs holds a URL; servers and Django do: uvicorn's and gunicorn's access
lines (with the query string), gunicorn's "Error handling request <uri>", runserver's
request lines, and the error report Django mails to ``ADMINS`` (the query string and the
full URL). So:

- :class:`HideSignatures`, a logging filter, replaces the value of every ``sig=`` in a
  record's message, arguments and traceback by ``[hidden]``. The app adds it to the
  servers' own loggers when it starts (:data:`SERVER_LOGGERS`); add it to your
  ``LOGGING`` handlers for everything else (docs/security.md).
- :class:`ExceptionReporter`, for ``DEFAULT_EXCEPTION_REPORTER``, hides the request's
  ``sig`` in error reports (mails to ``ADMINS``, the ``DEBUG`` page).
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import quote

from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe
from django.views import debug

from ..core.query import SIGNATURE

__all__ = ["HIDDEN", "SERVER_LOGGERS", "ExceptionReporter", "HideSignatures", "hide_signatures"]

#: What a hidden ``sig`` value reads as.
HIDDEN = "[hidden]"

#: Loggers of servers and of Django that write request lines or URIs with query strings.
SERVER_LOGGERS = (
    "gunicorn.access",
    "gunicorn.error",
    "uvicorn.access",
    "uvicorn.error",
    "django.server",
    "django.request",
)


def _letter(char: str) -> str:
    """``char`` in a query's key as a server may write it: as it is or percent-encoded
    (once, or twice inside another URL's encoded query), in either case."""
    codes = sorted({f"{ord(char.lower()):02x}", f"{ord(char.upper()):02x}"})
    return "(?:" + "|".join([char, *(f"%(?:25)?{code}" for code in codes)]) + ")"


# ``sig=value`` (Django reads ``%73ig`` as ``sig``; ``SIG`` is hidden too) after ``?``,
# ``&``, a space or a quote, or in another URL's encoded query (``%3Fsig%3Dvalue``,
# ``%26sig%3Dvalue``); not ``mysig=``. The value runs to the next ``&``, space or quote (in
# an encoded URL: to its end).
_KEY = "(?i:" + "".join(_letter(char) for char in SIGNATURE) + ")"
_SIGNED = re.compile(
    rf"(?:(?<![A-Za-z0-9_.~%-])|(?<=%3[Ff])|(?<=%26))({_KEY}(?:=|%3[Dd]))[^&\s\"'<>#]+",
    flags=re.ASCII,
)


def hide_signatures(text: str) -> str:
    """``text`` with the value of every ``sig=`` (or ``sig%3D``, ``%73ig=``, ``SIG=``)
    replaced by ``[hidden]``."""
    if "%" not in text and SIGNATURE not in text.lower():
        return text
    return _SIGNED.sub(rf"\1{HIDDEN}", text)


def _hidden(value: Any) -> Any:
    if isinstance(value, str):
        return hide_signatures(value)
    if isinstance(value, HttpRequest):  # its repr has the full path
        return hide_signatures(repr(value))
    return value


class HideSignatures(logging.Filter):
    """Hides ``sig`` values in every record it sees; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _hidden(record.msg)
        if isinstance(record.args, MutableMapping):  # gunicorn's access atoms: kept in place
            for key, value in record.args.items():
                record.args[key] = _hidden(value)
        elif isinstance(record.args, tuple):
            record.args = tuple(_hidden(arg) for arg in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = hide_signatures(logging.Formatter().formatException(record.exc_info))
        return True


def hide_signatures_in(*names: str) -> None:
    """Add :class:`HideSignatures` to the loggers ``names`` (once each)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideSignatures) for f in logger.filters):
            logger.addFilter(HideSignatures())


class ExceptionReporter(debug.ExceptionReporter):
    """Django's error report with the request's ``sig`` hidden wherever it appears
    (``DEFAULT_EXCEPTION_REPORTER = "stream_exports.http.redaction.ExceptionReporter"``)."""

    def _hide(self, report: str) -> SafeString:
        values = self.request.GET.getlist(SIGNATURE) if self.request is not None else []
        for value in filter(None, values):
            for form in {value, quote(value, safe=""), quote(value)}:
                report = report.replace(form, HIDDEN)
        return mark_safe(hide_signatures(report))  # (as safe as Django's, less the values)

    def get_traceback_html(self) -> SafeString:
        return self._hide(super().get_traceback_html())

    def get_traceback_text(self) -> SafeString:
        return self._hide(super().get_traceback_text())
