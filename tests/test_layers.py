"""Which way imports run: the export core, the HTTP layer, the jobs and their mail need no admin.

A worker process (``export_worker``, a Lambda jobs function) imports the jobs
subsystem; with a project that does not install the admin, that must not pull in
``django.contrib.admin`` or ``django.test`` (the admin's changelists reach for them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .servers import ROOT

PACKAGES = (
    "stream_exports.core",
    "stream_exports.jobs",
    "stream_exports.notify",
    "stream_exports.http",
)

#: Django set up without the admin, every module of PACKAGES imported; prints what loaded.
IMPORT_ALL = f"""
import importlib, json, pkgutil, sys
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "stream_exports"],
    DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
    USE_TZ=True,
)
django.setup()
imported = []
for name in {PACKAGES!r}:
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        imported.append(importlib.import_module(module.name).__name__)
print(json.dumps({{"imported": imported, "loaded": sorted(sys.modules)}}))
"""


def test_core_http_and_jobs_import_without_the_admin_or_django_test():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    imported = set(result["imported"])
    assert {"stream_exports.core.pgcopy", "stream_exports.jobs.worker"} <= imported
    assert "stream_exports.http.job_views" in imported
    for unwanted in ("django.contrib.admin", "django.test"):
        pulled = [name for name in result["loaded"] if (name + ".").startswith(unwanted + ".")]
        assert not pulled, f"{unwanted} was imported: {pulled}"
