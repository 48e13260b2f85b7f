"""The admin's static files on Lambda: WhiteNoise, made at the first request for one."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from django.urls import set_script_prefix

from project.static import LazyWhiteNoiseMiddleware


@override_settings(WHITENOISE_STATIC_PREFIX="/static/", WHITENOISE_USE_FINDERS=True)
def test_whitenoise_is_made_at_the_first_static_request_and_serves_under_a_stage(
    settings, tmp_path, db
):
    (tmp_path / "static").mkdir()
    settings.STATIC_ROOT = str(tmp_path / "static")  # (not collected: the finders serve it)
    middleware = LazyWhiteNoiseMiddleware(lambda request: HttpResponse("the app"))
    export = middleware(RequestFactory().get("/exports/orders.ndjson"))
    assert export.content == b"the app" and middleware.whitenoise is None
    set_script_prefix("/prod/")  # (a request on the execute-api URL, under its stage)
    try:
        script = middleware(RequestFactory().get("/static/stream_exports/job.js"))
    finally:
        set_script_prefix("/")
    assert script.status_code == 200 and b"EventSource" in b"".join(script.streaming_content)
    script.close()  # (its request_finished closes old connections: hence db)
    assert middleware.whitenoise is not None
