"""tenant-router's one Celery task, for the project's own Celery app (the worker's side of `--executor celery`).

Where the project makes its app (e.g. `proj/celery.py`)::

    app = Celery("proj")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    tenant_router.celery.install(app)

The task itself lives beside the Celery executor, in `tenant_router/executors/celery_worker.py`.
"""

from .executors.celery_worker import TASK_NAME, install, run_task

__all__ = ["TASK_NAME", "install", "run_task"]
