"""The admin's export dialog and job page in a real headless Chromium, against a real ASGI
server."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from stream_exports.core.formats.registry import get_format

from ..admin.changelist import matching_ids
from ..servers import Server, run_server, server_env, start_job
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


def signed_in(page: Any, server: Server) -> Any:
    """``page`` signed in as staff, on the changelist filtered, searched and ordered."""
    query = "?paid__exact=1&q=ana&o=-3"
    page.goto(f"{server.url}/admin/login/?next=/admin/testapp/order/{query.replace('&', '%26')}")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/testapp/order/**")
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_staff_exports_a_filtered_changelist_and_downloads_it(
    admin_server, browser, world, django_db_blocker, scheme
):
    page = signed_in(browser.new_page(accept_downloads=True, color_scheme=scheme), admin_server)
    page.check("#action-toggle")
    page.click(".actions .question a")  # every matching row, not only this page's
    page.select_option("select[name=action]", "export_selected")
    page.click("button[name=index]")
    page.wait_for_url("**/admin/testapp/order/export/?**")  # the dialog, for every match
    page.check("input[name=format][value=ndjson]")
    page.check("input[name=mode][value=background]")
    page.click("#export-dialog input[type=submit]")
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


#: The three fields the user keeps, and their labels (headers for people).
THREE = {"id": "Id", "customer": "Customer", "amount": "Amount"}


def header_and_ids(path: str, format: str) -> tuple[list[str], list[int]]:
    """A downloaded file's header row and the ids of its rows."""
    if format == "xlsx":
        from openpyxl import load_workbook

        with open(path, "rb") as file:  # (a download's path has no extension)
            sheet = load_workbook(file, read_only=True).worksheets[0]
            rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    else:
        with open(path, encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
    return [str(cell) for cell in rows[0]], [int(row[0]) for row in rows[1:]]


@pytest.mark.xfail(
    "labels" not in get_format("csv").options,
    reason="headers as labels come with the labels option (another branch); strict: it "
    "must pass once that is merged",
    strict=True,
)
def test_staff_export_three_fields_as_a_spreadsheet_now_and_in_the_background(
    admin_server, browser, world, django_db_blocker
):
    page = signed_in(browser.new_page(accept_downloads=True), admin_server)
    page.click(".object-tools a.export-link")  # the changelist's "Export" button
    page.wait_for_url("**/admin/testapp/order/export/?_changelist_filters=*")
    with django_db_blocker.unblock(), ThreadPoolExecutor(1) as thread:
        expected = thread.submit(matching_ids).result()
    assert f"{len(expected):,} orders" in page.locator("[data-field=count]").text_content()
    format = "xlsx" if page.locator("input[name=format][value=xlsx]").count() else "csv"
    assert page.locator("input[name=format]").first.get_attribute("value") == format
    page.check(f"input[name=format][value={format}]")
    page.click("[data-check=none]")  # "Clear", then three
    for name in THREE:
        page.check(f"input[name=fields][value={name}]")
    assert page.locator("input[name=fields]:checked").count() == 3
    page.check("input[name=mode][value=now]")
    with page.expect_download() as now:
        page.click("#export-dialog input[type=submit]")
    assert now.value.suggested_filename.endswith(f".{format}")
    assert header_and_ids(now.value.path(), format) == (list(THREE.values()), expected)

    page.check("input[name=mode][value=background]")
    page.click("#export-dialog input[type=submit]")
    page.wait_for_url("**/admin/stream_exports/exportjob/*/change/")
    page.wait_for_selector('#export-job[data-status="succeeded"]', timeout=60_000)
    link = page.locator('[data-field="download"]')
    assert link.is_visible()
    assert link.text_content() == f"Download {get_format(format).title}"
    with page.expect_download() as later:
        link.click()
    assert header_and_ids(later.value.path(), format) == (list(THREE.values()), expected)
    page.close()


def test_the_job_page_shows_partitions_done_of_total(admin_server, browser, world):
    job = start_job(admin_server.url, world, {"partitions": 2, "limit": 4000})
    page = signed_in(browser.new_page(), admin_server)
    page.goto(f"{admin_server.url}/admin/stream_exports/exportjob/{job['id']}/change/")
    page.wait_for_selector('#export-job[data-status="succeeded"]', timeout=60_000)
    partitions = page.locator('[data-field="partitions"]')
    assert partitions.is_visible()
    assert partitions.text_content().startswith("2 of 2 done (read ")
    page.close()
