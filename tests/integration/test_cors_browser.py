"""A page on another origin reads an export and follows a job, in a real headless Chromium.

The page is served from a second loopback port (another origin); the app allows that
origin (``DJANGO_CORS_ALLOWED_ORIGINS``) and the page uses signed URLs, no cookies.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.urls import reverse

from stream_exports.links.signing import sign_url

from ..servers import Server, free_port, run_server, server_env
from .browser import chromium, needs_chromium

pytestmark = [
    pytest.mark.servers,
    needs_chromium,
]

PAGE = """<!doctype html><meta charset="utf-8"><title>front end</title><pre id="out"></pre>
<script>
async function readLines(url) {
  const response = await fetch(url);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    text += value;
  }
  return {
    status: response.status,
    disposition: response.headers.get("Content-Disposition"),
    lines: text.trim().split("\\n").map(JSON.parse),
  };
}

function follow(url) {
  return new Promise((resolve, reject) => {
    const source = new EventSource(url), seen = [];
    for (const kind of ["status", "progress", "done"]) {
      source.addEventListener(kind, (event) => {
        seen.push([kind, JSON.parse(event.data)]);
        if (kind === "done") { source.close(); resolve(seen); }
      });
    }
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) reject("closed"); };
  });
}

async function run(app, exportUrl, jobsUrl) {
  const exported = await readLines(app + exportUrl);
  const started = await fetch(app + jobsUrl, {method: "POST"});
  const job = await started.json();
  const events = await follow(app + job.links.events);
  return {exported, started: {status: started.status, location: started.headers.get("Location")},
          events};
}
</script>"""


@pytest.fixture(scope="module")
def front_end() -> Iterator[str]:
    """The page, served from its own loopback origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def app(world, front_end, tmp_path_factory) -> Iterator[Server]:
    env = {**server_env(world), "DJANGO_CORS_ALLOWED_ORIGINS": front_end}
    with run_server("uvicorn", env, tmp_path_factory.mktemp("cors")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def test_a_page_on_another_origin_reads_an_export_and_follows_a_job(
    app, front_end, browser, world, django_db_blocker
):
    staff = world["users"]["staff"]
    with django_db_blocker.unblock():
        export = sign_url(
            reverse("stream_exports:ndjson", args=["orders"]), staff, {"limit": 5, "download": 1}
        )
        jobs = sign_url(reverse("stream_exports:jobs", args=["orders"]), staff, {"paid": "true"})
    assert app.url != front_end  # same host, another port: another origin
    page = browser.new_page()
    page.goto(front_end)
    result = page.evaluate("([app, e, j]) => run(app, e, j)", [app.url, export, jobs])

    exported = result["exported"]
    assert exported["status"] == 200
    assert exported["disposition"].startswith('attachment; filename="orders-')  # exposed
    assert [line["id"] for line in exported["lines"][:-1]] == [1, 2, 3, 4, 5]
    assert exported["lines"][-1]["_stream"]["status"] == "complete"

    assert result["started"]["status"] == 202
    assert result["started"]["location"].startswith("/exports/jobs/")  # exposed
    kinds = [kind for kind, _ in result["events"]]
    assert kinds[-1] == "done"
    assert result["events"][-1][1]["status"] == "succeeded", json.dumps(result["events"])
    page.close()


def test_a_page_on_an_origin_not_allowed_cannot_read_the_export(app, front_end, browser, world):
    export = sign_url(reverse("stream_exports:ndjson", args=["orders"]), world["users"]["staff"])
    page = browser.new_page()
    page.goto(front_end.replace("127.0.0.1", "localhost"))  # the same page, another origin
    error = page.evaluate(
        "(url) => fetch(url).then(() => 'read', (e) => String(e))", app.url + export
    )
    assert "Failed to fetch" in error
    allowed = browser.new_page()
    allowed.goto(front_end)
    assert allowed.evaluate("(url) => fetch(url).then((r) => r.status)", app.url + export) == 200
    page.close()
    allowed.close()
