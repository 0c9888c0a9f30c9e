"""The executors a run can use: the protocol and `make_executor` (base.py), one sibling per engine
(inprocess.py, processes.py, celery.py with celery_broker.py and the worker's celery_worker.py), what they
share (dispatch.py, tasks.py) and what travels between processes (wire.py)."""

from .base import (
    DEFAULT_QUEUE,
    EXECUTORS,
    Executor,
    ExecutorSpec,
    make_executor,
    open_early,
    resolve_jobs,
)
from .processes import DEFAULT_MAX_RSS_MB, DEFAULT_TASKS_PER_WORKER

__all__ = [
    "DEFAULT_MAX_RSS_MB",
    "DEFAULT_QUEUE",
    "DEFAULT_TASKS_PER_WORKER",
    "EXECUTORS",
    "Executor",
    "ExecutorSpec",
    "make_executor",
    "open_early",
    "resolve_jobs",
]
