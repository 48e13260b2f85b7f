"""Data migrations: jobs written by earlier versions read the same after them."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps

from stream_exports.core.datasets import registry
from stream_exports.jobs.lifecycle import create_job
from stream_exports.jobs.worker import run_job
from stream_exports.models import ExportJob
from tests.testapp.models import Order

from .job_api import downloaded_ids

source_kind = import_module("stream_exports.migrations.0002_job_source_kind")

#: A changelist source as jobs stored it before sources named their kind.
OLD_CHANGELIST = {
    "admin_site": "admin",
    "model": "testapp.order",
    "query": "paid__exact=1&o=-3",
    "path": "/admin/testapp/order/",
    "selected": ["9", "4", "2", "1"],
}


def test_0002_names_the_kind_of_old_changelist_sources_and_they_run(world, committed_jobs):
    staff, orders = world["users"]["staff"], registry.get("orders")
    old = create_job(orders, {}, staff)
    ExportJob.objects.filter(pk=old.pk).update(source=OLD_CHANGELIST)  # as an old version left it
    plain = create_job(orders, {"limit": "1"}, staff)
    named = create_job(orders, {}, staff, source={"kind": "elsewhere", "admin_site": "x"})

    source_kind.name_changelist_sources(apps, None)

    migrated = ExportJob.objects.get(pk=old.pk).source
    assert migrated == {
        **OLD_CHANGELIST,
        "kind": "admin.changelist",
        "description": "an admin changelist (?paid__exact=1&o=-3)",
    }
    assert ExportJob.objects.get(pk=plain.pk).source == {}
    assert ExportJob.objects.get(pk=named.pk).source == {"kind": "elsewhere", "admin_site": "x"}

    run_job(old.pk)  # the admin's source reads it: the changelist's rows, in its order
    expected = Order.objects.filter(pk__in=[9, 4, 2, 1], paid=True).order_by("-amount", "-pk")
    assert downloaded_ids(ExportJob.objects.get(pk=old.pk)) == list(
        expected.values_list("id", flat=True)
    )


@pytest.mark.django_db
def test_0007_makes_the_lease_table_write_no_wal_on_postgresql(postgres):
    """Leases live as long as streams: a crash that empties the table ends them too."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relpersistence FROM pg_class WHERE relname = 'stream_exports_streamlease'"
        )
        assert cursor.fetchone() == ("u",)
