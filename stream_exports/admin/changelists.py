"""Rows of a Django admin changelist (its filters, search and ordering), rebuilt anywhere.

A changelist is named by its query string (what the admin's own links keep as
``_changelist_filters``) and the checked rows (None: every matching row). The
export dialog reads its rows so for a request; a background job keeps the same
as its source (kind :data:`KIND`), and the worker asks the same ModelAdmin for the
same rows as the job's owner (``stream_exports.jobs.sources``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.sites import all_sites
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import reverse

__all__ = [
    "KIND",
    "changelist_request",
    "changelist_rows",
    "changelist_source",
    "model_admin_of",
    "selection_of",
]

#: A job source that is an admin changelist.
KIND = "admin.changelist"


def changelist_source(
    model_admin: admin.ModelAdmin, query: str, selected: Sequence[Any] | None
) -> dict[str, Any]:
    """A changelist by its query string and checked keys: what a job keeps (as JSON) to
    rebuild its rows."""
    opts = model_admin.model._meta
    site = model_admin.admin_site.name
    path = reverse(f"{site}:{opts.app_label}_{opts.model_name}_changelist", current_app=site)
    return {
        "kind": KIND,
        "description": "an admin changelist" + (f" (?{query})" if query else ""),
        "admin_site": site,
        "model": opts.label_lower,
        "query": query,
        "path": path,
        "selected": None if selected is None else [str(key) for key in selected],
    }


def selection_of(request: HttpRequest) -> tuple[str, ...] | None:
    """The rows an admin action was given: the checked ones, or None ("select all")."""
    if request.POST.get("select_across") == "1":
        return None
    return tuple(request.POST.getlist(ACTION_CHECKBOX_NAME))


def model_admin_of(source: Mapping[str, Any]) -> admin.ModelAdmin:
    """The ModelAdmin whose changelist ``source`` names."""
    model = apps.get_model(source["model"])
    site = next(site for site in all_sites if site.name == source["admin_site"])
    return site.get_model_admin(model)


def changelist_request(source: Mapping[str, Any], user: Any) -> HttpRequest:
    """A GET of the changelist as ``user``: what a ModelAdmin reads of a request."""
    request = HttpRequest()
    request.method = "GET"
    request.path = request.path_info = source["path"]
    request.META = {"REQUEST_METHOD": "GET", "QUERY_STRING": source["query"]}
    request.GET = QueryDict(source["query"])
    request.user = user
    return request


def changelist_rows(
    model_admin: admin.ModelAdmin, request: HttpRequest, selected: Sequence[Any] | None
) -> QuerySet:
    """The changelist's rows for ``request`` (a GET of it): the same filters, search and
    ordering, only the ``selected`` keys unless None."""
    queryset = model_admin.get_changelist_instance(request).queryset  # (built by its __init__)
    return queryset if selected is None else queryset.filter(pk__in=selected)
