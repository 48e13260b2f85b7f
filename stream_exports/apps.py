"""The app's configuration: system checks, and ``exports.py`` discovered in every app."""

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class StreamExportsConfig(AppConfig):
    name = "stream_exports"
    verbose_name = "Stream exports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks; import each installed app's ``exports`` module."""
        from . import checks  # noqa: F401  (Django's idiom: checks register on import)

        autodiscover_modules("exports")
