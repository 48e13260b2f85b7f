"""A real SMTP server on loopback (aiosmtpd), and the mails it received.

A test's own process sends Django's mail to it with ``smtp_settings`` (the ``mailbox``
fixture does); a server or worker the tests start does with ``SMTP_PORT`` in its
environment (tests/settings.py).
"""

from __future__ import annotations

import email
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from .mail_settings import smtp_settings
from .servers import free_port

__all__ = ["Mailbox", "html_of", "smtp_server", "smtp_settings", "text_of"]


class Mailbox:
    """What an SMTP server on loopback received: each message parsed, with its envelope
    recipients. Recipients in ``refuse`` are answered 550."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.refuse: set[str] = set()
        self._arrived = threading.Condition()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        with self._arrived:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait(self, count: int = 1, timeout: float = 30) -> list[EmailMessage]:
        """The messages, once at least ``count`` have arrived (``AssertionError`` if they
        do not within ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.messages)} mails arrived, not {count}"
                self._arrived.wait(left)
            return list(self.messages)


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """An SMTP server on a free loopback port until the block ends; yields its mailbox."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox(free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a received mail (with ``\n`` line ends, not SMTP's)."""
    return _part(message, "plain")


def html_of(message: EmailMessage) -> str:
    """The HTML alternative of a received mail."""
    return _part(message, "html")


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_subtype() == subtype, message
    return part.get_content().replace("\r\n", "\n")
