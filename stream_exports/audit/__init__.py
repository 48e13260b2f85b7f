"""The audit trail: who exported, downloaded or started what, when, from where, and how it
ended; one row per event (:class:`~stream_exports.audit.models.AuditRecord`) and one JSON
line on the ``stream_exports.audit`` logger, read-only in the admin.

``models`` holds the table, ``trail`` what a request or a job writes into it, ``admin``
its read-only list.
"""
