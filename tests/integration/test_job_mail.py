""" "Your export is ready" from a real worker process: the job runs in ``export_worker``,
which mails its owner through a real SMTP server on loopback; the link in the mail
downloads the file from a real server."""

from __future__ import annotations

import json

import pytest
import requests

from stream_exports.links.signing import sign_url

from ..mail import smtp_server, text_of
from ..servers import run_server, run_worker, server_env
from ..testapp.models import Order

pytestmark = pytest.mark.servers


def test_a_worker_process_mails_the_owner_a_link_that_downloads_the_file(
    world, exporter, tmp_path, django_db_blocker
):
    owner = exporter("worker_mailed")
    owner.email = "worker_mailed@example.com"
    with django_db_blocker.unblock():
        owner.save()
        paid = Order.objects.filter(paid=True).count()
    env = server_env(world, JOB_RUNNER="stream_exports.runners.WorkerRunner", CHUNK_SIZE=1000)
    params = {"paid": "true", "fields": "id,customer,amount,created_at"}
    log = tmp_path / "worker.log"
    with smtp_server() as mailbox, run_server("uvicorn", env, tmp_path) as server:
        started = requests.post(
            server.url + sign_url("/exports/orders/jobs", owner, params), timeout=30
        )
        assert started.status_code == 202, started.text
        job = started.json()["id"]
        # Only the worker is told where the SMTP server is: a mail that arrives is its.
        with run_worker("export_worker", {**env, "SMTP_PORT": str(mailbox.port)}, log):
            [mail] = mailbox.wait(1, timeout=120)
        export = requests.get(
            server.url + sign_url("/exports/orders.ndjson", owner, params), timeout=60
        )
        text = text_of(mail)
        download = text.splitlines()[text.splitlines().index("Download it:") + 1]
        assert download.startswith(f"{server.url}/exports/jobs/{job}/download?sig=")
        file = requests.get(download, timeout=60)

    assert mailbox.recipients == [["worker_mailed@example.com"]]
    assert mail["Subject"].startswith("Your orders export is ready (NDJSON, ")
    assert f"job {job}: mailed its owner 'worker_mailed' that it succeeded" in log.read_text()
    assert file.status_code == 200 and export.status_code == 200
    assert file.content == export.content  # the same rows, the same trailer
    lines = file.content.splitlines()
    assert len(lines) == paid + 1 and json.loads(lines[-1])["_stream"]["rows"] == paid
