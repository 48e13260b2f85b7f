"""Rows of a Django admin changelist (its filters, search and ordering), rebuilt anywhere.

An admin action knows the changelist by its request; a background job runs
without one. The job keeps the changelist's query string and the selected
keys, and asks the same ModelAdmin for the same queryset as the job's owner.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.test import RequestFactory

from .datasets import Dataset
from .engine import RowPlan


def describe_changelist(request: HttpRequest, model_admin: admin.ModelAdmin) -> dict[str, Any]:
    """What a job needs to rebuild the rows an admin action was given."""
    opts = model_admin.model._meta
    selected = None
    if request.POST.get("select_across") != "1":
        selected = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
    return {
        "admin_site": model_admin.admin_site.name,
        "model": opts.label_lower,
        "query": request.GET.urlencode(),
        "path": request.path,
        "selected": selected,
    }


def _model_admin(source: dict[str, Any]) -> admin.ModelAdmin:
    from django.apps import apps
    from django.contrib.admin.sites import all_sites

    model = apps.get_model(source["model"])
    site = next(site for site in all_sites if site.name == source["admin_site"])
    return site.get_model_admin(model)


def changelist_queryset(source: dict[str, Any], user: Any) -> QuerySet:
    """The changelist's rows for ``user``: the same filters, search and ordering."""
    model_admin = _model_admin(source)
    request = RequestFactory().get(source["path"], data=None, QUERY_STRING=source["query"])
    request.user = user
    queryset = model_admin.get_changelist_instance(request).get_queryset(request)
    if source.get("selected") is not None:
        queryset = queryset.filter(pk__in=source["selected"])
    return queryset


def changelist_plan(dataset: Dataset, queryset: QuerySet, fields: tuple[str, ...]) -> RowPlan:
    """Read ``queryset`` in its own order, with the dataset's fields and cursor."""
    cursor = dataset.cursor_column
    columns = fields if cursor in fields else (*fields, cursor)
    ordering = tuple(queryset.query.order_by) or (cursor,)
    return RowPlan(queryset, columns, cursor, ordering=ordering)
