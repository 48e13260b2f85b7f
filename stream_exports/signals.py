"""Public: the signals a project can connect to (:mod:`stream_exports.jobs.signals`).

::

    from django.dispatch import receiver
    from stream_exports.signals import job_finished

    @receiver(job_finished)
    def tell_chat(sender, job, **kwargs): ...
"""

from .jobs.signals import job_finished

__all__ = ["job_finished"]
