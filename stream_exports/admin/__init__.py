"""The admin integration: export actions for any ModelAdmin, and the export jobs' pages.

Django's admin discovers this package: it registers :class:`ExportJobAdmin`, the
audit trail (:class:`AuditRecordAdmin`) and link revocations
(:class:`LinkRevocationAdmin`), and lets jobs read admin changelists
(``jobs.sources``). Host projects use :class:`ExportActionsMixin`, and may add
:func:`revoke_signed_links` to their user admin's actions::

    from stream_exports.admin import ExportActionsMixin, revoke_signed_links
"""

from django.contrib import admin

from ..jobs.sources import register_source
from ..models import AuditRecord, ExportJob, LinkRevocation
from .actions import ExportActionsMixin
from .audit import AuditRecordAdmin
from .changelists import KIND, changelist_queryset
from .jobs import ExportJobAdmin
from .revocations import LinkRevocationAdmin, revoke_signed_links

__all__ = [
    "AuditRecordAdmin",
    "ExportActionsMixin",
    "ExportJobAdmin",
    "LinkRevocationAdmin",
    "revoke_signed_links",
]

admin.site.register(ExportJob, ExportJobAdmin)
admin.site.register(AuditRecord, AuditRecordAdmin)
admin.site.register(LinkRevocation, LinkRevocationAdmin)
register_source(KIND, changelist_queryset)
