from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class StreamExportsConfig(AppConfig):
    name = "stream_exports"
    verbose_name = "Stream exports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

        autodiscover_modules("exports")
