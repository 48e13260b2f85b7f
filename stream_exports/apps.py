"""The app's configuration: system checks, ``exports.py`` discovered in every app, and
signed URLs' ``sig`` hidden from the servers' logs."""

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class StreamExportsConfig(AppConfig):
    name = "stream_exports"
    verbose_name = "Stream exports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks; import each installed app's ``exports`` module; add
        the filter that hides ``sig`` to the loggers of servers (their access lines)."""
        from . import checks  # noqa: F401  (Django's idiom: checks register on import)
        from .http.redaction import SERVER_LOGGERS, hide_signatures_in

        autodiscover_modules("exports")
        hide_signatures_in(*SERVER_LOGGERS)
