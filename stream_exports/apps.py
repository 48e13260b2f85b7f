"""The app's configuration: system checks, ``exports.py`` discovered in every app, signed
URLs' ``sig`` hidden from the servers' logs, the owner's mail when a job ends, and on
Lambda stream records as metrics."""

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class StreamExportsConfig(AppConfig):
    name = "stream_exports"
    verbose_name = "Stream exports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks (the AWS ones too); import each installed app's
        ``exports`` module; add the filter that hides ``sig`` to the loggers of servers
        (their access lines); mail a job's owner when it ends (``job_finished``); on Lambda,
        write stream records as CloudWatch metrics."""
        from . import checks  # noqa: F401  (Django's idiom: checks register on import)
        from .aws import checks as aws_checks  # noqa: F401
        from .aws.environment import on_lambda
        from .http.redaction import SERVER_LOGGERS, hide_signatures_in
        from .jobs.signals import job_finished
        from .notify.mail import mail_owner

        autodiscover_modules("exports")
        job_finished.connect(mail_owner, dispatch_uid="stream_exports.notify.mail_owner")
        hide_signatures_in(*SERVER_LOGGERS)
        if on_lambda():
            from .aws.metrics import write_metrics_to_stdout

            write_metrics_to_stdout()
