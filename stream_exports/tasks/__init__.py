"""Job runners on task systems a project already runs: Django's task framework
(``tasks.django``), Celery (``tasks.celery``) and Zappa's asynchronous tasks
(``tasks.zappa``). Each task takes only the job's id and runs the job as every runner
does (``jobs.runners.run_in_worker``). Nothing else in stream_exports imports this
package.

Celery's ``app.autodiscover_tasks()`` imports ``<app>.tasks`` of each installed app:
this package, which then registers the Celery tasks (when Celery is installed).
"""

from importlib.util import find_spec

if find_spec("celery") is not None:
    from . import celery as celery  # registers the shared task with the project's app
