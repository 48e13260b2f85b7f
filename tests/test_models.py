"""Export jobs: who may see which."""

from __future__ import annotations

import pytest

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
