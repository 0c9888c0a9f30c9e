"""The clinic's Celery app: the workers that `tenant-router migrate --executor celery` hands databases to.

Start a worker (from examples/clinic):  celery -A clinic.celery:app worker -Q tenant_router -n w1@%h
"""

import os

from celery import Celery

import tenant_router.celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("clinic")
app.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    # What a fleet migration needs of the workers: one task at a time per process, acknowledged when
    # done (a lost worker's database goes back to the queue), a redelivery window longer than the
    # slowest tenant, and fresh processes now and then so memory stays flat.
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={"visibility_timeout": 6 * 3600},
    worker_max_tasks_per_child=200,
    worker_hijack_root_logger=False,
)
app.config_from_object("django.conf:settings", namespace="CELERY")
tenant_router.celery.install(app)
