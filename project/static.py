"""The admin's static files on Lambda (``DJANGO_SERVE_STATIC=1``), served by WhiteNoise."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

Handler = Callable[[HttpRequest], HttpResponseBase]


class LazyWhiteNoiseMiddleware:
    """WhiteNoise's middleware, made at the first request under ``WHITENOISE_STATIC_PREFIX``.

    WhiteNoise reads every static file's headers when it is made (some 20 ms for the
    admin's): a cold start that serves an export need not wait for that."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.whitenoise: Handler | None = None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(settings.WHITENOISE_STATIC_PREFIX):
            return self.get_response(request)
        if self.whitenoise is None:
            from whitenoise.middleware import WhiteNoiseMiddleware

            self.whitenoise = WhiteNoiseMiddleware(self.get_response)
        return self.whitenoise(request)
