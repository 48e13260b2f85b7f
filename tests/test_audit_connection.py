"""An audit record outlives the database connection its stream lost."""

from __future__ import annotations

import pytest
from django.db import connection

from stream_exports.models import AuditRecord


def test_an_audit_record_is_ended_even_after_its_connection_was_cut(world, django_db_blocker):
    """A stream that failed because its database connection was cut (PostgreSQL's backend
    terminated, a MariaDB ``KILL``) still ends its record: on a new connection."""
    if connection.vendor == "sqlite":
        pytest.skip("no server connection to cut (the runs on PostgreSQL and MariaDB have it)")
    with django_db_blocker.unblock():  # (autocommit, as a served request is)
        record = AuditRecord.objects.start(kind="export", via="session", dataset="orders")
        assert record is not None
        try:
            connection.ensure_connection()
            connection.connection.close()  # cut under Django, as the server would
            record.end("failed", rows=3, bytes=10, reason="the connection was cut")
            record.refresh_from_db()
            assert (record.outcome, record.rows) == ("failed", 3)
            assert record.reason == "the connection was cut"
        finally:
            AuditRecord.objects.filter(pk=record.pk).delete()
