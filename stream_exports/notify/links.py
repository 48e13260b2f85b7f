"""Where a message about a finished job points: its page and its file, absolute on the
address the job was started at (``ExportJob.site``), else on ``PUBLIC_URL``, else relative.

A job started over HTTP records its site (:func:`site_of`): scheme, host and script prefix,
so links are right behind a proxy or API Gateway's stage prefix too. Signed links are made
for the job's owner with :func:`~stream_exports.links.signing.sign_url`: they expire after
``SIGNED_URL_EXPIRES`` and end like every other (password change, "revoke all").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.http import HttpRequest
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils import timezone

from ..conf import conf
from ..jobs.models import ExportJob, JobStatus
from ..links.signing import sign_url

__all__ = ["JobLinks", "links_for", "site_of"]

#: The admin's live page of a job.
ADMIN_PAGE = "admin:stream_exports_exportjob_change"


@dataclass(frozen=True)
class JobLinks:
    """The links a message about a finished job carries."""

    #: The job's page: the admin's live page for a staff owner (when the admin is
    #: installed), else the API's job status, signed.
    page: str
    #: The file, signed; ``None`` unless the job succeeded.
    download: str | None
    #: When the signed links stop working (``None``: none is signed), and how long after
    #: they were made (``SIGNED_URL_EXPIRES``).
    expires_at: datetime | None
    expires_after: timedelta | None
    #: Whether the links are absolute (``False``: no site and no ``PUBLIC_URL``).
    absolute: bool


def site_of(request: HttpRequest) -> str:
    """The absolute URL the app is served under for ``request``: scheme, host and script
    prefix (``https://host/prefix/``), the prefix being what the server or a middleware
    (``GatewayPrefixMiddleware``) put before the path the app got."""
    path, inside = request.path, request.path_info
    prefix = path[: len(path) - len(inside)] if path.endswith(inside) else get_script_prefix()
    return request.build_absolute_uri(prefix.rstrip("/") + "/")


def links_for(job: ExportJob) -> JobLinks:
    """The links to ``job``'s page and (when it succeeded) its file, for its owner."""
    owner = job.owner
    page = _admin_page(job, owner)
    signed = page is None
    if page is None:
        page = sign_url(reverse("stream_exports:job", args=[job.pk]), owner)
    download = None
    if job.status == JobStatus.SUCCEEDED and job.file.name:
        download = sign_url(reverse("stream_exports:job-download", args=[job.pk]), owner)
        signed = True
    base = job.site or conf.PUBLIC_URL
    lifetime = timedelta(seconds=conf.SIGNED_URL_EXPIRES)
    return JobLinks(
        page=_on(base, page),
        download=None if download is None else _on(base, download),
        expires_at=timezone.now() + lifetime if signed else None,
        expires_after=lifetime if signed else None,
        absolute=bool(base),
    )


def _admin_page(job: ExportJob, owner: Any) -> str | None:
    """The admin's page of ``job`` if the admin is installed and ``owner`` may open it."""
    if not (getattr(owner, "is_staff", False) and apps.is_installed("django.contrib.admin")):
        return None
    try:
        return reverse(ADMIN_PAGE, args=[job.pk])
    except NoReverseMatch:  # (the project's admin site does not register the jobs)
        return None


def _on(base: str, path: str) -> str:
    """``path`` (made by ``reverse()``, under this thread's script prefix) on ``base``, the
    URL the app is served under; ``path`` itself when there is no base."""
    if not base:
        return path
    prefix = get_script_prefix()
    inside = path[len(prefix) :] if path.startswith(prefix) else path.lstrip("/")
    return f"{base.rstrip('/')}/{inside}"
