"""Middleware that keeps streams flowing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware

__all__ = ["GZipMiddleware"]


class GZipMiddleware(DjangoGZipMiddleware):
    """Django's GZipMiddleware, except for stream_exports streams.

    Django's holds back the small chunks of a sync stream until its compressor
    fills, so a live log or event stream would stall. Use this one in its place.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(response, "never_compress", False):
            return response
        return super().process_response(request, response)
