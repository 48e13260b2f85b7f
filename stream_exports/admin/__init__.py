"""The admin integration: export actions for any ModelAdmin, and the export jobs' pages.

Django's admin discovers this package: it registers :class:`ExportJobAdmin`
and lets jobs read admin changelists (``jobs.sources``). Host projects use
:class:`ExportActionsMixin`::

    from stream_exports.admin import ExportActionsMixin
"""

from django.contrib import admin

from ..jobs.sources import register_source
from ..models import ExportJob
from .actions import ExportActionsMixin
from .changelists import KIND, changelist_queryset
from .jobs import ExportJobAdmin

__all__ = ["ExportActionsMixin", "ExportJobAdmin"]

admin.site.register(ExportJob, ExportJobAdmin)
register_source(KIND, changelist_queryset)
