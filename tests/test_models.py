"""Export jobs: who may see which, and where their files go."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, InMemoryStorage, Storage

from stream_exports.core.datasets import registry
from stream_exports.jobs.lifecycle import create_job
from stream_exports.models import ExportJob

pytestmark = pytest.mark.django_db


def test_a_user_sees_their_own_jobs_and_a_superuser_every_job(world):
    users = world["users"]
    orders = registry.get("orders")
    ExportJob.objects.all().delete()  # (servers' jobs of other tests; rolled back after)
    mine = create_job(orders, {"limit": "1"}, users["staff"])
    theirs = create_job(orders, {"limit": "2"}, users["staff_without_perm"])

    assert list(ExportJob.objects.visible_to(users["staff"])) == [mine]
    assert list(ExportJob.objects.visible_to(users["staff_without_perm"])) == [theirs]
    assert list(ExportJob.objects.visible_to(users["plain"])) == []
    assert set(ExportJob.objects.visible_to(users["superuser"])) == {mine, theirs}

    assert mine.visible_to(users["staff"]) and not theirs.visible_to(users["staff"])
    assert not mine.visible_to(users["plain"])
    assert mine.visible_to(users["superuser"]) and theirs.visible_to(users["superuser"])


def test_the_job_file_fields_storage_is_the_one_job_storage_names_when_used(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "jobs": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "elsewhere": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    storage = ExportJob._meta.get_field("file").storage
    assert isinstance(storage, Storage)
    settings.STREAM_EXPORTS = {"JOB_STORAGE": "jobs"}
    assert isinstance(storage, InMemoryStorage) and storage.save("a.ndjson", ContentFile(b"{}"))
    assert storage.exists("a.ndjson")
    settings.STREAM_EXPORTS = {"JOB_STORAGE": "elsewhere"}
    assert isinstance(storage, FileSystemStorage) and storage.location == str(tmp_path)
    assert not storage.exists("a.ndjson")
