"""The jobs API: start a job, read its status, follow its events and log, download it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from ..conf import conf
from ..core.datasets import registry
from ..core.formats import MEDIA_TYPES
from ..core.query import FORMATS, SIGNATURE, ParamError
from ..core.query import NDJSON as NDJSON_FORMAT
from ..jobs.files import GZIP, is_s3
from ..jobs.follow import EventFollower, Follower, LogFollower, afollow, follow
from ..jobs.lifecycle import create_job, request_cancel
from ..jobs.runners import submit_on_commit
from ..jobs.worker import download_name
from ..models import ExportJob, Outcome, Status, job_storage
from . import audit
from .access import request_user, sign_url
from .compression import IDENTITY
from .measure import Stream, refused
from .refusals import REFUSALS, refusal
from .responses import (
    EVENT_STREAM,
    TEXT,
    database_down_is_503,
    is_asgi,
    json_error,
    json_response,
    open_stream,
)

__all__ = [
    "job_cancel",
    "job_detail",
    "job_download",
    "job_events",
    "job_links",
    "job_log",
    "start_job",
]

LINKS = {"self": "job", "events": "job-events", "log": "job-log", "download": "job-download"}

View = Callable[..., HttpResponseBase]


def job_links(job: ExportJob, user: Any) -> dict[str, str]:
    """Signed links to the job's endpoints, for scripts and ``EventSource``."""
    return {
        name: sign_url(reverse(f"stream_exports:{route}", args=[job.pk]), user)
        for name, route in LINKS.items()
    }


def job_body(job: ExportJob, user: Any) -> dict[str, Any]:
    return {**job.as_status(), "links": job_links(job, user)}


def csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Session-authenticated POSTs need Django's CSRF check; signed URLs do not."""
    if SIGNATURE in request.GET:
        return None
    check = CsrfViewMiddleware(lambda request: HttpResponse())
    check.process_request(request)
    # No view to pass: the one being served is csrf_exempt, and this is its check. Django
    # only reads the callback with getattr; django-stubs requires a callable.
    if check.process_view(request, None, (), {}) is None:  # type: ignore[arg-type]
        return None
    return json_error(
        403, "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken, or sign the URL."
    )


def session_or_signed_post(view: View) -> View:
    """A POST endpoint: CSRF-checked for sessions (a signed URL needs none), 503 while
    the database is unreachable."""

    @csrf_exempt
    @require_POST
    @database_down_is_503
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if (failure := csrf_failure(request)) is not None:
            return failure
        return view(request, *args, **kwargs)

    return wrapper


@session_or_signed_post
def start_job(request: HttpRequest, name: str) -> HttpResponseBase:
    """``POST /exports/<name>/jobs?<filters>[&format=csv]``: 202 and the new job, with
    signed links."""
    user = None
    try:
        user = request_user(request)
        dataset = registry.allowed(name, user)
        params = request.GET.copy()
        format = params.pop("format", [NDJSON_FORMAT])[-1]
        if format not in FORMATS:
            raise ParamError(
                "format", f"{format!r} is no format; give one of {', '.join(FORMATS)}."
            )
        job = create_job(dataset, params, user, format=format, origin=audit.origin(request))
    except REFUSALS as exc:
        return refusal(request, exc, user)
    submit_on_commit(job.pk)
    response = json_response(job_body(job, user), status=202)
    response["Location"] = reverse("stream_exports:job", args=[job.pk])
    return response


def find_job(user: Any, job_id: Any) -> ExportJob:
    """The job if ``user`` may see it (owner or superuser), else ``LookupError``."""
    job = ExportJob.objects.visible_to(user).filter(pk=job_id).first()
    if job is None:
        raise LookupError(f"no job {job_id} that you may see.")
    return job


def _job_or_error(
    request: HttpRequest, job_id: Any, handle: Callable[[ExportJob, Any], HttpResponseBase]
) -> HttpResponseBase:
    user = None
    try:
        user = request_user(request)
        job = find_job(user, job_id)
    except REFUSALS as exc:
        return refusal(request, exc, user)
    return handle(job, user)


@require_safe
@database_down_is_503
def job_detail(request: HttpRequest, job_id: Any) -> HttpResponseBase:
    """``GET /exports/jobs/<id>``: the job's status."""
    return _job_or_error(request, job_id, lambda job, user: json_response(job_body(job, user)))


@session_or_signed_post
def job_cancel(request: HttpRequest, job_id: Any) -> HttpResponseBase:
    """``POST /exports/jobs/<id>/cancel``: stop a queued or running job."""

    def cancel(job: ExportJob, user: Any) -> HttpResponseBase:
        if job.finished:
            return json_error(409, f"job {job.pk} has already {job.status}.")
        request_cancel(job)
        job.refresh_from_db()
        return json_response(job_body(job, user), status=202)

    return _job_or_error(request, job_id, cancel)


def last_event_id(request: HttpRequest) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("lastEventId") or "0"
    return int(raw) if raw.isdigit() else 0


def following(
    request: HttpRequest, user: Any, follower: Follower, content_type: str, stream: Stream
) -> HttpResponseBase:
    """``follower``'s stream, in the shell the server needs."""
    shell = afollow if is_asgi(request) else follow
    return open_stream(request, user, lambda: shell(follower), content_type, stream=stream)


def job_stream(kind: str, format: str | None, job: ExportJob) -> Stream:
    """The measure of one of ``job``'s streams (``lines`` counted for logs and events; a
    download's audit record has the job's parameters)."""
    download = kind == "download"
    return Stream(
        kind,
        format=format,
        dataset=job.dataset,
        job=str(job.pk),
        lines=None if download else 0,
        rows=job.rows if download else None,
        params=job.params if download else {},
    )


@require_safe
@database_down_is_503
def job_events(request: HttpRequest, job_id: Any) -> HttpResponseBase:
    """``GET /exports/jobs/<id>/events``: SSE status events from ``Last-Event-ID`` on."""

    def events(job: ExportJob, user: Any) -> HttpResponseBase:
        follower = EventFollower(job.pk, seen=last_event_id(request))
        return following(request, user, follower, EVENT_STREAM, job_stream("events", "sse", job))

    return _job_or_error(request, job_id, events)


@require_safe
@database_down_is_503
def job_log(request: HttpRequest, job_id: Any) -> HttpResponseBase:
    """``GET /exports/jobs/<id>/log``: the log so far, then live lines (``?follow=0``: not)."""

    def log(job: ExportJob, user: Any) -> HttpResponseBase:
        follower = LogFollower(job.pk, follow=request.GET.get("follow", "1") not in ("0", "false"))
        return following(request, user, follower, TEXT, job_stream("log", "text", job))

    return _job_or_error(request, job_id, log)


def file_chunks(name: str) -> Iterator[bytes]:
    """The job file ``name``, a block at a time."""
    size = conf.DOWNLOAD_READ_SIZE
    with job_storage().open(name, "rb") as handle:
        while block := handle.read(size):
            yield block


@require_safe
@database_down_is_503
def job_download(request: HttpRequest, job_id: Any) -> HttpResponseBase:
    """``GET /exports/jobs/<id>/download``: the finished file, if the caller may still
    export its dataset. Where the storage hands out URLs (S3), a redirect to a signed,
    expiring one (the object carries its type, encoding and file name); elsewhere
    streamed, as stored when the client takes gzip."""

    def download(job: ExportJob, user: Any) -> HttpResponseBase:
        try:
            registry.allowed(job.dataset, user)
        except REFUSALS as exc:
            return refusal(request, exc, user)
        name = job.file.name
        if job.status != Status.SUCCEEDED or not name:
            detail = f": {job.error}" if job.error else ""
            message = f"job {job.pk} is {job.status}{detail}; no file to download."
            refused(request, 409, message, user)
            return json_error(409, message)
        storage = job_storage()
        if is_s3(storage):
            expire = conf.SIGNED_URL_EXPIRES
            response = HttpResponseRedirect(storage.url(name, expire=expire))
            response["Cache-Control"] = "no-cache"
            what = job_stream("download", job.format, job).audited()
            ended = {"outcome": Outcome.COMPLETE, "status": 302, "rows": job.rows}
            reason = "redirected to the storage's signed URL, which sends the file"
            audit.start(request, user, **what, **ended, reason=reason)
            return response
        stored = GZIP if name.endswith(".gz") else IDENTITY
        return open_stream(
            request,
            user,
            lambda: file_chunks(name),
            MEDIA_TYPES[job.format],
            download_name(job),
            compress=True,
            stored=stored,
            stream=job_stream("download", job.format, job),
        )

    return _job_or_error(request, job_id, download)
