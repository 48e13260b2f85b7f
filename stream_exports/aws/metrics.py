"""Stream records as CloudWatch metrics: on Lambda, each record the ``stream_exports.streams``
logger gets goes to stdout in CloudWatch's embedded metric format (EMF), where Lambda's
log agent turns it into metrics (TTFB, Duration, Bytes, Rows by dataset, format and
outcome) without an API call."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["NAMESPACE", "EmbeddedMetrics", "emf", "write_metrics_to_stdout"]

#: The CloudWatch namespace of the metrics.
NAMESPACE = "StreamExports"

#: The logger stream records are written to (``stream_exports.http.measure``).
STREAMS_LOGGER = "stream_exports.streams"


def emf(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` in CloudWatch embedded metric format: TTFB, Duration, Bytes and Rows
    as metrics (those it has), by dataset, format and outcome."""
    values = {
        "TTFB": (record["ttfb_ms"], "Milliseconds"),
        "Duration": (record["duration_ms"], "Milliseconds"),
        "Bytes": (record["bytes"], "Bytes"),
        "Rows": (record["rows"], "Count"),
    }
    present = {name: pair for name, pair in values.items() if pair[0] is not None}
    dimensions = {
        "dataset": str(record["dataset"] or "-"),
        "format": str(record["format"] or "-"),
        "outcome": record["outcome"],
    }
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": n, "Unit": unit} for n, (_, unit) in present.items()],
                }
            ],
        },
        **record,
        **dimensions,
        **{name: value for name, (value, _) in present.items()},
    }


class EmbeddedMetrics(logging.Handler):
    """Writes each stream record (a log record's ``stream``) to stdout as EMF, one line."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = getattr(record, "stream", None)
        if not isinstance(stream, dict):
            return
        try:
            sys.stdout.write(json.dumps(emf(stream), default=str) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def write_metrics_to_stdout() -> EmbeddedMetrics:
    """Send stream records to stdout as EMF instead of the logger's other handlers (once;
    the app does it at start-up on Lambda). Returns the handler."""
    logger = logging.getLogger(STREAMS_LOGGER)
    for handler in logger.handlers:
        if isinstance(handler, EmbeddedMetrics):
            return handler
    handler = EmbeddedMetrics()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler
