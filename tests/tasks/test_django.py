"""DjangoTaskRunner: a job is one task on the backend and queue the settings name (its
worker is tested in tests/integration/test_task_runners.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django_tasks_db.models import DBTaskResult

from ..job_api import start
from ..servers import ROOT

pytestmark = pytest.mark.usefixtures("committed_jobs")

DATABASE_BACKEND = "django_tasks_db.DatabaseBackend"


def test_a_job_is_one_task_on_the_backend_and_queue_the_settings_name(world, settings):
    settings.TASKS = {
        "default": {"BACKEND": DATABASE_BACKEND},
        "exports": {"BACKEND": DATABASE_BACKEND, "QUEUES": ["exports"]},
    }
    settings.STREAM_EXPORTS = {
        "JOB_RUNNER": "stream_exports.runners.DjangoTaskRunner",
        "JOB_TASK_BACKEND": "exports",
        "JOB_TASK_QUEUE": "exports",
    }
    job_id = start(world, {"limit": 5}).json()["id"]
    task = DBTaskResult.objects.get(args_kwargs__args=[job_id])
    assert (task.backend_name, task.queue_name, task.status) == ("exports", "exports", "READY")
    assert task.task_path == "stream_exports.runners.on_django_tasks.run_export_job"
    assert task.args_kwargs == {"args": [job_id], "kwargs": {}}
    DBTaskResult.objects.filter(pk=task.pk).delete()


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ({"JOB_TASK_BACKEND": "exports"}, "InvalidTaskBackend"),
        ({"JOB_TASK_QUEUE": "exports"}, "Queue 'exports' is not valid for backend"),
    ],
)
def test_manage_py_check_names_a_task_backend_or_queue_that_is_not_set_up(setting, problem):
    stream_exports = {"JOB_RUNNER": "stream_exports.runners.DjangoTaskRunner", **setting}
    done = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "STREAM_EXPORTS": json.dumps(stream_exports),
        },
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "(stream_exports.E006) STREAM_EXPORTS['JOB_RUNNER']" in done.stderr.decode()
    assert problem in done.stderr.decode()
