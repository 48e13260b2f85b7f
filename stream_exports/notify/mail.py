"""The mail that tells a job's owner it ended, sent by the process that ends the job.

:func:`mail_owner` hears ``job_finished`` after the job's last event, so nothing here
adds to the export itself. Plain text with an HTML alternative, from the templates
``stream_exports/mail/job_finished{_subject.txt,.txt,.html}`` (a project may override them).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.timesince import timeuntil

from ..conf import conf
from ..core.formats.registry import format_title
from ..jobs.models import ExportJob, JobStatus
from .links import links_for

__all__ = ["email_of", "job_mail", "mail_owner", "summary"]

logger = logging.getLogger("stream_exports")

#: The templates, less their endings (``_subject.txt``, ``.txt``, ``.html``).
TEMPLATES = "stream_exports/mail/job_finished"

#: The longest failure summary a mail carries, in characters.
SUMMARY_LENGTH = 300


def mail_owner(sender: Any, job: ExportJob, **kwargs: Any) -> None:
    """``job_finished``'s receiver: mail the owner when the job's ``notify`` and
    ``NOTIFY_BY_EMAIL`` allow it and they have an address. A mail that cannot be sent
    is logged once; this never raises."""
    if not (job.notify and conf.NOTIFY_BY_EMAIL):
        return
    owner = job.owner
    address = email_of(owner)
    if not address or not getattr(owner, "is_active", True):
        return
    who = owner.get_username()
    try:
        job_mail(job, address).send()
    except OSError as exc:  # the mail server: unreachable, refused, cut (SMTPException)
        logger.error(
            "job %s: the mail to its owner %r was not sent: %s: %s",
            job.pk,
            who,
            type(exc).__name__,
            exc,
        )
    except Exception:
        logger.exception("job %s: the mail to its owner %r was not sent", job.pk, who)
    else:
        logger.info("job %s: mailed its owner %r that it %s", job.pk, who, job.status)


def email_of(user: Any) -> str:
    """``user``'s e-mail address (the user model's ``EMAIL_FIELD``), or ``""``."""
    field = user.get_email_field_name() if hasattr(user, "get_email_field_name") else "email"
    return str(getattr(user, field, "") or "")


def job_mail(job: ExportJob, address: str) -> EmailMultiAlternatives:
    """The mail to ``address`` that says how ``job`` ended, with its links."""
    context = mail_context(job)
    subject = " ".join(render_to_string(f"{TEMPLATES}_subject.txt", context).split())
    text = render_to_string(f"{TEMPLATES}.txt", context)
    message = EmailMultiAlternatives(subject, text, conf.NOTIFY_FROM or None, [address])
    message.attach_alternative(render_to_string(f"{TEMPLATES}.html", context), "text/html")
    return message


def mail_context(job: ExportJob) -> dict[str, Any]:
    """What the templates read: the job, how it ended, in words, and its links."""
    owner = job.owner
    links = links_for(job)
    full_name = getattr(owner, "get_full_name", lambda: "")()
    return {
        "job": job,
        "name": full_name or owner.get_username(),
        "dataset": job.dataset,
        "rows_of": (job.source or {}).get("description", ""),
        "format": format_title(job.format),
        "succeeded": job.status == JobStatus.SUCCEEDED,
        "failed": job.status == JobStatus.FAILED,
        "cancelled": job.status == JobStatus.CANCELLED,
        "rows": f"{job.rows:,}",
        "size": filesizeformat(job.bytes),
        "summary": summary(job.error),
        "started": _when(job.created_at),
        "links": links,
        "expires": _when(links.expires_at),
        "expires_after": _duration(links.expires_after),
    }


def summary(error: str) -> str:
    """A failure in one line (its first), at most ``SUMMARY_LENGTH`` characters: never a
    traceback."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if first.startswith("Traceback"):  # (a project's own error text: its last line says what)
        first = lines[-1]
    return first if len(first) <= SUMMARY_LENGTH else first[: SUMMARY_LENGTH - 1] + "…"


def _duration(length: timedelta | None) -> str:
    """``length`` in words ("1 hour", "2 days")."""
    if length is None:
        return ""
    start = timezone.now()
    return timeuntil(start + length, start)


def _when(moment: datetime | None) -> str:
    """``moment`` in the project's time zone, to the minute, with the zone's name."""
    if moment is None:
        return ""
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".strip()
