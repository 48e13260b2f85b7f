"""Settings for stream_exports: every tunable, read in one place from ``settings.STREAM_EXPORTS``.

Each key is a :class:`Setting` with its default, its type and what it means;
the settings reference in the docs is generated from them. Every read goes
through Django's ``settings``, so ``override_settings`` works in tests::

    STREAM_EXPORTS = {"CHUNK_SIZE": 5000, "JOB_RUNNER": "stream_exports.runners.WorkerRunner"}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar, overload

from django.conf import settings

__all__ = ["Setting", "Settings", "conf", "user_settings"]

T = TypeVar("T", int, float, bool, str)


def user_settings() -> dict[str, Any]:
    """What the project set in ``settings.STREAM_EXPORTS`` (``{}`` when nothing)."""
    given = getattr(settings, "STREAM_EXPORTS", {})
    return given if isinstance(given, dict) else {}


class Setting(Generic[T]):
    """One key of ``STREAM_EXPORTS``: its default (whose type a value is cast to) and meaning."""

    def __init__(self, default: T, help: str, section: str, *, zero_is_off: bool = False) -> None:
        self.default: T = default
        self.help = help
        self.section = section
        #: 0 turns what it bounds off (checks then take 0 as well as a positive number).
        self.zero_is_off = zero_is_off
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, instance: Settings, owner: type) -> T: ...
    def __get__(self, instance: Settings | None, owner: type) -> Setting[T] | T:
        if instance is None:
            return self
        return type(self.default)(user_settings().get(self.name, self.default))


EXPORTS, SERVING, ACCESS, JOBS, FOLLOW = "Exports", "Serving", "Access", "Jobs", "Following jobs"
AUDITING, NOTIFYING, ADMIN = "Audit", "When a job ends", "Admin"


class Settings:
    """Typed access to ``settings.STREAM_EXPORTS``, one attribute per key."""

    # Exports
    CHUNK_SIZE = Setting(
        2000, "Rows fetched from the database, encoded and sent per chunk.", EXPORTS
    )
    ENGINE = Setting(
        "auto",
        'How rows leave the database: `"stream"` (PostgreSQL sends one query\'s rows in '
        'chunks as it makes them), `"cursor"` (a server-side cursor), `"keyset"` (pages '
        'ordered by the cursor field) or `"auto"` (stream on PostgreSQL, cursor on SQLite, '
        "keyset elsewhere, and with `DISABLE_SERVER_SIDE_CURSORS` on a database that cannot "
        "stream).",
        EXPORTS,
    )
    COPY_FAST_PATH = Setting(
        True,
        "Let the database write NDJSON lines when every exported field allows it: PostgreSQL "
        "(`COPY`) and MariaDB (`CONCAT` in keyset pages).",
        EXPORTS,
    )
    COPY_CHUNK_BYTES = Setting(
        256 * 1024, "Bytes of `COPY` lines gathered before they leave as one chunk.", EXPORTS
    )
    READ_DATABASE = Setting(
        "",
        "The alias in `DATABASES` that exports and jobs read their rows from (and count "
        "them on), e.g. a streaming replica; jobs, the audit trail and stream leases are "
        "written to the default database all the same. Empty: where the project's routers "
        "send the reads of the dataset's model (docs/databases.md#reading-from-a-replica).",
        EXPORTS,
    )
    CSV_ESCAPE_FORMULAS = Setting(
        True,
        "In CSV, start a text that a spreadsheet would run as a formula (its first character "
        "`=`, `+`, `-`, `@`, tab or CR) with `'`; `False` writes every text as it is, for "
        "machine consumers (docs/exports.md#formulas).",
        EXPORTS,
    )
    # Serving
    COMPRESSION = Setting(
        "zstd,gzip",
        "Encodings offered for exports and downloads, best first, as `Accept-Encoding` "
        'allows (zstd needs Python 3.14 or `backports.zstd`); `""` turns compression off.',
        SERVING,
    )
    GZIP_LEVEL = Setting(1, "gzip level (1: the fastest; docs/performance.md compares).", SERVING)
    ZSTD_LEVEL = Setting(1, "zstd level (1: the fastest; docs/performance.md compares).", SERVING)
    MAX_STREAMS = Setting(
        1000,
        "Streams (exports, downloads, events, logs) open at once on the whole site, every "
        "process counted (0: no cap).",
        SERVING,
        zero_is_off=True,
    )
    MAX_STREAMS_PER_USER = Setting(
        10,
        "Streams one user may have open at once on the whole site (0: no cap); keep it "
        "below the database pool's size (check W009).",
        SERVING,
        zero_is_off=True,
    )
    STREAM_LEASE_SECONDS = Setting(
        60.0,
        "How long an open stream's place under the caps outlives its process: each process "
        "renews its streams' places every third of it, so a crashed one's free themselves.",
        SERVING,
    )
    BUSY_RETRY_AFTER = Setting(
        5, "`Retry-After` seconds of a 429 when over a stream or job cap.", SERVING
    )
    UNAVAILABLE_RETRY_AFTER = Setting(
        2, "`Retry-After` seconds of a 503 while the database is unreachable.", SERVING
    )
    DOWNLOAD_READ_SIZE = Setting(
        64 * 1024, "Bytes read from a job's file per chunk of its download.", SERVING
    )
    # Access
    SIGNED_URL_EXPIRES = Setting(3600, "Default lifetime of a signed URL, in seconds.", ACCESS)
    SIGNED_URL_MAX_AGE = Setting(
        7 * 24 * 3600,
        "Longest lifetime a signed URL may be given or is accepted with, in seconds.",
        ACCESS,
    )
    EXPORT_PERMISSION = Setting(
        "view",
        "The permission a dataset's default rule asks for: active staff with "
        "`<app>.<EXPORT_PERMISSION>_<model>` on the dataset's model. `view`: the model's "
        "view permission; `export`: an `export_<model>` permission the model declares in "
        "`Meta.permissions` (docs/access.md).",
        ACCESS,
    )
    SIGNING_SALT = Setting(
        "stream_exports.url", "Keeps these signatures apart from the project's others.", ACCESS
    )
    # Audit
    AUDIT = Setting(
        True,
        "Keep an audit trail: a row per export, download and job start (and per one "
        "refused), and a line on the `stream_exports.audit` logger.",
        AUDITING,
    )
    AUDIT_RETENTION_DAYS = Setting(
        365, "Days of audit rows `manage.py prune_audit` keeps.", AUDITING
    )
    AUDIT_RETENTION_ROWS = Setting(
        1_000_000,
        "Audit rows `manage.py prune_audit` keeps at most, the newest (0: no bound).",
        AUDITING,
        zero_is_off=True,
    )
    AUDIT_MAX_CHARS = Setting(
        2000,
        "Longest a row's parameters (as JSON) and reason may be: what a client sends "
        "beyond it is cut, and the row says so.",
        AUDITING,
    )
    AUDIT_TRUSTED_PROXIES = Setting(
        0,
        "Proxies in front of the app that append the client to `X-Forwarded-For` (nginx, "
        "API Gateway: 1); the audit's client address is that many entries from its end. "
        "0: `REMOTE_ADDR`.",
        AUDITING,
    )
    # Admin
    ADMIN_EXPORT_NOW_MAX_ROWS = Setting(
        100_000,
        "Most rows the admin's export dialog offers to download at once; more go to a "
        "background job (its page follows it, a mail says when it is ready).",
        ADMIN,
    )
    # Jobs
    JOB_RUNNER = Setting(
        "stream_exports.runners.ThreadRunner",
        "Dotted path of the class that starts jobs.",
        JOBS,
    )
    JOB_LAMBDA_FUNCTION = Setting(
        "",
        "The jobs function `LambdaRunner` invokes (name or ARN); `ZappaRunner` too when set "
        "(else the function it runs in).",
        JOBS,
    )
    JOB_TASK_BACKEND = Setting(
        "default", "Alias in `settings.TASKS` that `DjangoTaskRunner` enqueues jobs on.", JOBS
    )
    JOB_TASK_QUEUE = Setting(
        "default", "Queue of `JOB_TASK_BACKEND` that `DjangoTaskRunner` enqueues jobs on.", JOBS
    )
    MAX_JOBS = Setting(
        100,
        "Jobs queued or running at once on the whole site; starts over it get a 429 (0: no cap).",
        JOBS,
        zero_is_off=True,
    )
    MAX_JOBS_PER_USER = Setting(
        10,
        "Jobs one user may have queued or running at once; starts over it get a 429 (0: no cap).",
        JOBS,
        zero_is_off=True,
    )
    JOB_STORAGE = Setting(
        "default", "Alias in `settings.STORAGES` that job files are written to.", JOBS
    )
    JOB_HEARTBEAT = Setting(2.0, "Seconds between a running job's heartbeats.", JOBS)
    JOB_STALE_AFTER = Setting(
        20.0, "Seconds without a heartbeat after which a running job is failed.", JOBS
    )
    JOB_PROGRESS_INTERVAL = Setting(
        0.25, "Least seconds between two progress events of a job.", JOBS
    )
    JOB_LOG_INTERVAL = Setting(1.0, "Seconds between two progress lines in a job's log.", JOBS)
    JOB_FILE_GZIP = Setting(
        True,
        "Write job files gzip-compressed (at `GZIP_LEVEL`): a sixth of the size, and "
        "downloads that browsers, `curl --compressed` and `requests` decode as they come.",
        JOBS,
    )
    JOB_SLICE_SECONDS = Setting(
        0.0,
        "Longest a job runs in one process before it checkpoints and is submitted again "
        "(0: never). On Lambda the invocation's deadline decides too. Needs S3 storage.",
        JOBS,
    )
    JOB_SLICE_MARGIN = Setting(
        60.0,
        "Seconds before Lambda's deadline at which a job (or partition) checkpoints and "
        "moves on; a partitioned job's coordinator holds its snapshot for its next run "
        "half as long at most.",
        JOBS,
    )
    JOB_COUNT_TOTAL = Setting(
        True, "Count the rows before a job starts, so progress has a total.", JOBS
    )
    PARTITION_ROWS = Setting(
        5_000_000,
        "A job of more rows than this is split into partitions of about this many, each a "
        "task of its own on the job's runner (0: only when asked with `partitions=`).",
        JOBS,
        zero_is_off=True,
    )
    MAX_PARTITIONS = Setting(
        32,
        "Most partitions of one job (at most 1000: S3's 10,000 parts are shared among them).",
        JOBS,
    )
    PARTITION_TRIES = Setting(3, "Runs a failing partition gets before its job fails.", JOBS)
    # When a job ends
    NOTIFY_BY_EMAIL = Setting(
        True,
        "Mail a job's owner when it ends (succeeded, failed, cancelled): the job page, and "
        "a signed download link when it succeeded. Only for jobs whose `notify` is on "
        "(`notify=0` on the job start turns it off for one job) and owners with an e-mail "
        "address. Off: no mails; `job_finished` is sent either way.",
        NOTIFYING,
    )
    NOTIFY_FROM = Setting(
        "", "The sender of those mails; empty: Django's `DEFAULT_FROM_EMAIL`.", NOTIFYING
    )
    PUBLIC_URL = Setting(
        "",
        "The absolute URL the app is served under, with its script prefix "
        "(`https://example.com/` or `https://example.com/prefix/`): the base of the links "
        "in mails about jobs started without a request (`manage.py start_export` without "
        "`--base-url`, a project's own code). A job started over HTTP has the address it "
        "was started at. Empty: such mails carry relative links.",
        NOTIFYING,
    )
    # Following jobs
    HEARTBEAT = Setting(15.0, "Seconds between `: keepalive` lines on idle event streams.", FOLLOW)
    POLL_INTERVAL = Setting(
        0.5, "Seconds between database polls when progress is not pushed.", FOLLOW
    )
    SSE_RETRY_MS = Setting(
        2000,
        "The `retry:` an event stream opens with: milliseconds a client waits to reconnect.",
        FOLLOW,
    )
    FOLLOW_PAGE_SIZE = Setting(500, "Events or log lines read per database poll.", FOLLOW)
    MAX_FAILED_POLLS = Setting(
        10, "Failed polls in a row after which a stream ends (its client reconnects).", FOLLOW
    )
    PUSH_TIMEOUT = Setting(
        2.0, "Seconds a job waits for a push to leave before going on without it.", FOLLOW
    )

    @classmethod
    def declared(cls) -> Iterator[Setting[Any]]:
        """Every setting, in the order declared."""
        for value in vars(cls).values():
            if isinstance(value, Setting):
                yield value


conf = Settings()
