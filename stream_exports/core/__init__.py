"""The export core: datasets and filters, query parameters, row plans and readers,
the PostgreSQL fast path, and the NDJSON wire format with its trailer.

It knows nothing of HTTP, jobs, the admin or AWS: those import it, never the
other way round (``make test`` checks it).
"""
