"""What the admin pages of stream_exports share: breadcrumbs in the running Django's markup."""

from __future__ import annotations

from typing import Any

import django
from django.contrib import admin
from django.urls import reverse
from django.utils.text import capfirst

__all__ = ["breadcrumbs"]

#: Django 6.1 writes the admin's breadcrumbs as a list (``<ol class="breadcrumbs">``);
#: before, as links between ``&rsaquo;`` in a ``<div>``. The admin's CSS styles only its own.
CRUMBS_AS_LIST = django.VERSION >= (6, 1)


def breadcrumbs(model_admin: admin.ModelAdmin, changelist_url: str, here: str) -> dict[str, Any]:
    """The context of a page's breadcrumbs (``admin/stream_exports/breadcrumbs.html``):
    Home, the model's app, its list (at ``changelist_url``), then ``here``."""
    opts = model_admin.model._meta
    site = model_admin.admin_site.name
    crumbs = [
        (reverse(f"{site}:index", current_app=site), "Home"),
        (
            reverse(f"{site}:app_list", kwargs={"app_label": opts.app_label}, current_app=site),
            opts.app_config.verbose_name,
        ),
        (changelist_url, capfirst(opts.verbose_name_plural)),
        ("", here),
    ]
    return {"crumbs": crumbs, "crumbs_as_list": CRUMBS_AS_LIST}
