"""The admin job page in a real headless Chromium, against a real ASGI server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ..admin.changelist import matching_ids
from ..servers import Server, run_server, server_env
from .browser import chromium, needs_chromium

pytestmark = [
    pytest.mark.servers,
    needs_chromium,
]


@pytest.fixture(scope="module")
def admin_server(world, tmp_path_factory) -> Iterator[Server]:
    env = {**server_env(world, CHUNK_SIZE=500), "DJANGO_DEBUG": "1"}  # DEBUG: admin static files
    with run_server("uvicorn", env, tmp_path_factory.mktemp("admin")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_staff_exports_a_filtered_changelist_and_downloads_it(
    admin_server, browser, world, django_db_blocker, scheme
):
    page = browser.new_page(accept_downloads=True, color_scheme=scheme)
    query = "?paid__exact=1&q=ana&o=-3"
    page.goto(
        f"{admin_server.url}/admin/login/?next=/admin/testapp/order/{query.replace('&', '%26')}"
    )
    page.fill("#id_username", "staff")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/testapp/order/**")
    page.check("#action-toggle")
    page.click(".actions .question a")  # every matching row, not only this page's
    page.select_option("select[name=action]", "export_ndjson_background")
    page.click("button[name=index]")
    page.wait_for_url("**/admin/stream_exports/exportjob/*/change/")

    page.wait_for_selector('#export-job[data-status="succeeded"]', timeout=60_000)
    bar = page.locator('[data-field="bar"]')
    assert bar.get_attribute("value") == bar.get_attribute("max")
    assert page.locator('[data-field="percent"]').text_content() == "100"
    page.wait_for_function(
        "document.querySelector('[data-field=log]').textContent.includes('succeeded:')"
    )
    assert page.locator('[data-field="cancel"]').is_hidden()
    with page.expect_download() as download:
        page.click('[data-field="download"]')
    with open(download.value.path(), encoding="utf-8") as file:
        lines = [json.loads(line) for line in file]
    with django_db_blocker.unblock(), ThreadPoolExecutor(1) as thread:
        expected = thread.submit(matching_ids).result()  # (Playwright's loop runs in this one)
    assert [line["id"] for line in lines[:-1]] == expected
    assert lines[-1]["_stream"] == {
        "status": "complete",
        "rows": len(expected),
        "last": expected[-1],
    }
    page.close()
