"""Read stream_exports NDJSON exports from Python, every row once, over a bad network.

Depends only on ``requests`` (``tqdm`` for the command's progress, if present)::

    from stream_exports_client import iter_records

    for record in iter_records("https://host/exports/orders.ndjson?sig=..."):
        ...

A download that is cut (no trailer, a broken chunked body, a connection reset,
a timeout) is resumed with ``after=<last cursor>``; an error trailer raises
``ExportFailed``. The command, ``stream-exports download URL`` (or
``python -m stream_exports_client download URL``), writes an export to a file or
stdout with a progress display.
"""

from .download import Download, Timeouts, iter_records
from .errors import ClientError, ExportFailed, GaveUp, Refused, Unavailable
from .sse import Event, follow_job, tail_log

__all__ = [
    "ClientError",
    "Download",
    "Event",
    "ExportFailed",
    "GaveUp",
    "Refused",
    "Timeouts",
    "Unavailable",
    "follow_job",
    "iter_records",
    "tail_log",
]
