"""The workload's Celery app: the workers `tenant-router migrate --executor celery` hands databases to.

bench/run.py starts them itself (`--only tr,celery --celery-workers 2`); by hand, with the fleet's
environment (BENCH_BACKEND, BENCH_TENANT_CONFIG, PYTHONPATH=bench/workload:.):

    celery -A benchsite.celery:app worker -Q <queue> -n w1@%h -c 1 --without-gossip --without-mingle
"""

import os

from celery import Celery

import tenant_router.celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")

# Redis database 11 by default: not the example's 0, so a bench run and a demo do not share workers.
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")

app = Celery("benchsite")
app.conf.update(
    broker_url=BROKER_URL,
    # As the clinic example and the README advise: one task at a time per process, acknowledged when
    # done, a redelivery window longer than the slowest tenant, fresh processes now and then.
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={"visibility_timeout": 6 * 3600},
    worker_max_tasks_per_child=200,
    worker_hijack_root_logger=False,
)
tenant_router.celery.install(app)
