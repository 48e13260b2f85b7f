"""The admin integration: an export dialog for any ModelAdmin, and the export jobs' pages.

Django's admin discovers this package: it registers :class:`ExportJobAdmin`, the
audit trail (:class:`AuditRecordAdmin`) and link revocations
(:class:`LinkRevocationAdmin`), and lets jobs read admin changelists
(``jobs.sources``). Host projects use :class:`ExportActionsMixin` (the dialog and its
action; :class:`ExportMixin`: the dialog alone), and may add :func:`revoke_signed_links`
to their user admin's actions::

    from stream_exports.admin import ExportActionsMixin, revoke_signed_links
"""

from django.contrib import admin

from ..audit.admin import AuditRecordAdmin
from ..audit.models import AuditRecord
from ..jobs.models import ExportJob
from ..jobs.sources import register_source
from ..links.admin import LinkRevocationAdmin, revoke_signed_links
from ..links.models import LinkRevocation
from .actions import ExportActionsMixin
from .changelists import KIND
from .exports import ExportMixin, job_rows
from .jobs import ExportJobAdmin

__all__ = [
    "AuditRecordAdmin",
    "ExportActionsMixin",
    "ExportJobAdmin",
    "ExportMixin",
    "LinkRevocationAdmin",
    "revoke_signed_links",
]

admin.site.register(ExportJob, ExportJobAdmin)
admin.site.register(AuditRecord, AuditRecordAdmin)
admin.site.register(LinkRevocation, LinkRevocationAdmin)
register_source(KIND, job_rows)
