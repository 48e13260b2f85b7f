"""Rows of a Django admin changelist (its filters, search and ordering), rebuilt anywhere.

An admin action knows the changelist by its request; a background job runs
without one. The job keeps the changelist's query string and the selected
keys as its source (kind :data:`KIND`), and the worker asks the same ModelAdmin
for the same queryset as the job's owner (``stream_exports.jobs.sources``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.sites import all_sites
from django.db.models import QuerySet
from django.http import HttpRequest

__all__ = ["KIND", "changelist_queryset", "describe_changelist"]

#: A job source that is an admin changelist.
KIND = "admin.changelist"


def describe_changelist(request: HttpRequest, model_admin: admin.ModelAdmin) -> dict[str, Any]:
    """What a job needs to rebuild the rows an admin action was given."""
    opts = model_admin.model._meta
    selected = None
    if request.POST.get("select_across") != "1":
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
    query = request.GET.urlencode()
    return {
        "kind": KIND,
        "description": "an admin changelist" + (f" (?{query})" if query else ""),
        "admin_site": model_admin.admin_site.name,
        "model": opts.label_lower,
        "query": query,
        "path": request.path,
        "selected": selected,
    }


def _model_admin(source: Mapping[str, Any]) -> admin.ModelAdmin:
    model = apps.get_model(source["model"])
    site = next(site for site in all_sites if site.name == source["admin_site"])
    return site.get_model_admin(model)


def changelist_queryset(source: Mapping[str, Any], user: Any) -> QuerySet:
    """The changelist's rows for ``user``: the same filters, search and ordering."""
    from django.test import RequestFactory  # (here: it imports jinja2 and unittest, ~50 ms)

    model_admin = _model_admin(source)
    request = RequestFactory().get(source["path"], data=None, QUERY_STRING=source["query"])
    request.user = user
    queryset = model_admin.get_changelist_instance(request).get_queryset(request)
    if source.get("selected") is not None:
        queryset = queryset.filter(pk__in=source["selected"])
    return queryset
