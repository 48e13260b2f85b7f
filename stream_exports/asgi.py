"""Public: :class:`JobStreams`, the ASGI app around Django's that serves job streams after
their view answered (:mod:`stream_exports.http.handoff`). In the project's ``asgi.py``::

    from django.core.asgi import get_asgi_application
    from stream_exports.asgi import JobStreams

    application = JobStreams(get_asgi_application())
"""

from .http.handoff import JobStreams

__all__ = ["JobStreams"]
