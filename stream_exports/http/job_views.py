"""The jobs API: start a job, read its status, follow its events and log, download it."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from ..audit import trail
from ..audit.trail import AuditOutcome
from ..conf import conf
from ..core.datasets import Dataset, registry
from ..core.errors import Refusal
from ..core.formats.base import Format
from ..core.formats.registry import get_format
from ..core.query import (
    SIGNATURE,
    OutsideSignature,
    ParamError,
    flag,
    parse_export_query,
    partitions_param,
)
from ..jobs.files import GZIP, is_s3
from ..jobs.follow import EventFollower, Follower, LogFollower, afollow, follow
from ..jobs.lifecycle import check_job_caps, create_job, request_cancel
from ..jobs.models import ExportJob, JobStatus, job_storage
from ..jobs.worker import download_name
from ..links.signing import sign_url
from ..notify.links import site_of
from ..runners.base import submit_on_commit
from .access import Caller, request_caller, request_user
from .answers import NEVER_STORED, database_down_is_503, json_error, json_response
from .compression import IDENTITY, decoded
from .measure import Stream
from .refusals import refusal, refused
from .responses import EVENT_STREAM, TEXT, is_asgi, open_stream

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
    """``POST /exports/<name>/jobs?<filters>[&format=csv][&notify=0][&partitions=4]``: 202
    and the new job, with signed links; a signed URL that started one already: 200 and
    that job. ``notify=0``: no mail to the owner when it ends. ``partitions``: split it
    in that many (1: not; ``auto``, the default: ``PARTITION_ROWS`` decides). The job
    keeps the address it was started at, the base of that mail's links."""
    user = None
    try:
        caller = request_caller(request)
        user = caller.user
        dataset = registry.exportable(name, user)
        params = request.GET.copy()
        format = get_format(params.pop("format", ["ndjson"])[-1])
        notify = flag(params, "notify", default=True)
        params.pop("notify", None)
        partitions = partitions_param(params)
        params.pop("partitions", None)
        job, started = start_once(
            caller,
            dataset,
            params,
            format,
            origin=trail.origin(request),
            notify=notify,
            site=site_of(request),
            partitions=partitions,
        )
    except Refusal as exc:
        return refusal(request, exc, user)
    if started:
        submit_on_commit(job.pk)
    response = json_response(job_body(job, user), status=202 if started else 200)
    response["Location"] = reverse("stream_exports:job", args=[job.pk])
    return response


def start_once(
    caller: Caller, dataset: Dataset, params: QueryDict, format: Format, **created: Any
) -> tuple[ExportJob, bool]:
    """(the job, True) started for ``caller`` within the job caps (``created``: more of
    ``create_job``'s arguments); (the job, False) when the caller's signed URL started it
    already. A signed URL's job gets only its rows: its ``after`` and ``limit`` as
    :meth:`Caller.bound` leaves them."""
    link = caller.link
    if link is not None:
        if (started := ExportJob.objects.filter(link_digest=link.digest).first()) is not None:
            return started, False
        params = bounded_params(caller, dataset, params, format)
    digest = link.digest if link is not None else None
    try:
        with transaction.atomic():
            check_job_caps(caller.user)
            job = create_job(
                dataset, params, caller.user, format=format, link_digest=digest, **created
            )
    except IntegrityError:  # the same signed URL, posted at the same moment
        if (started := ExportJob.objects.filter(link_digest=digest).first()) is None:
            raise
        return started, False
    return job, True


def bounded_params(
    caller: Caller, dataset: Dataset, params: QueryDict, format: Format
) -> QueryDict:
    """``params`` with the ``after`` and ``limit`` the caller's signed URL leaves them (its
    limit less the rows between its floor and ``after``); ``OutsideSignature`` when
    none is left."""
    query = caller.bound(parse_export_query(dataset, params, format))
    limit = query.row_plan(caller.user).limit
    if limit == 0:
        raise OutsideSignature(
            "after", f"nothing is left after {query.after}: this signed URL's rows end there."
        )
    bounded = params.copy()
    for name, value in (("after", query.after), ("limit", limit)):
        if value is not None:
            bounded[name] = str(value)
    return bounded


class JobNotFound(Refusal):
    """No job of that id that the caller may see (a 404)."""

    status = 404


def find_job(user: Any, job_id: Any) -> ExportJob:
    """The job if ``user`` may see it (owner or superuser), else :class:`JobNotFound`."""
    job = ExportJob.objects.visible_to(user).filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(f"no job {job_id} that you may see.")
    return job


def _job_or_error(
    request: HttpRequest, job_id: Any, handle: Callable[[ExportJob, Any], HttpResponseBase]
) -> HttpResponseBase:
    user = None
    try:
        user = request_user(request)
        job = find_job(user, job_id)
    except Refusal as exc:
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


#: An event's id as this app numbers them: ASCII digits, at most 18 (no int() of a
#: superscript digit or of 5,000 digits, which raise).
EVENT_ID = re.compile(r"[0-9]{1,18}")


def last_event_id(request: HttpRequest) -> int:
    """The id of the last event the client saw: ``Last-Event-ID`` (header), else
    ``?lastEventId=``; 0 for none; ``ParamError`` (400) for what is no event id."""
    for name, raw in (
        ("Last-Event-ID", request.headers.get("Last-Event-ID")),
        ("lastEventId", request.GET.get("lastEventId")),
    ):
        if raw:
            if not EVENT_ID.fullmatch(raw):
                raise ParamError(name, "give the id of the last event seen: a whole number.")
            return int(raw)
    return 0


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
        try:
            seen = last_event_id(request)
        except ParamError as exc:
            return refusal(request, exc, user)
        follower = EventFollower(job.pk, seen=seen)
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
    streamed, as stored when the client takes gzip (a format never compressed, XLSX,
    as it is)."""

    def download(job: ExportJob, user: Any) -> HttpResponseBase:
        try:
            registry.allowed(job.dataset, user)
        except Refusal as exc:
            return refusal(request, exc, user)
        name = job.file.name
        if job.status != JobStatus.SUCCEEDED or not name:
            detail = f": {job.error}" if job.error else ""
            message = f"job {job.pk} is {job.status}{detail}; no file to download."
            refused(request, 409, message, user)
            return json_error(409, message)
        storage = job_storage()
        # A partitioned job's file is a gzip member a piece: one valid gzip file, but curl
        # and browsers decode only the first member of a Content-Encoding, so it is sent
        # decoded, and compressed again as the client asks (one stream), never redirected.
        members = name.endswith(".gz") and bool(job.consistency)
        if is_s3(storage) and not members:
            expire = conf.SIGNED_URL_EXPIRES
            response = HttpResponseRedirect(storage.url(name, expire=expire))
            response["Cache-Control"] = NEVER_STORED
            what = job_stream("download", job.format, job).audited()
            ended: dict[str, Any] = {
                "outcome": AuditOutcome.COMPLETE,
                "status": 302,
                "rows": job.rows,
            }
            reason = "redirected to the storage's signed URL, which sends the file"
            trail.record(request, user, **what, **ended, reason=reason)
            return response
        stored = GZIP if name.endswith(".gz") and not members else IDENTITY
        format = get_format(job.format)
        return open_stream(
            request,
            user,
            lambda: decoded(file_chunks(name), GZIP) if members else file_chunks(name),
            format.media_type,
            download_name(job),
            compress=format.compressible or stored != IDENTITY,
            stored=stored,
            stream=job_stream("download", job.format, job),
        )

    return _job_or_error(request, job_id, download)
