"""The executors a run can use (see base.py); `make_executor` picks one from the run's options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..orm_backends.assistants import Assistants, AssistantSetup
from ..record.report import MigrationReport
from .base import Executor
from .processes import DEFAULT_MAX_RSS_MB, DEFAULT_TASKS_PER_WORKER

EXECUTORS = ("processes", "celery")
DEFAULT_QUEUE = "tenant_router"

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


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """Which executor carries the run's tasks out, and its limits."""

    name: str = "processes"  # or "celery"
    jobs: int | None = 1  # processes: worker processes (0/None: one per CPU; 1: in the run's process)
    max_per_host: int | None = None  # at most this many databases of one server at once, all workers
    worker_tasks: int = DEFAULT_TASKS_PER_WORKER
    worker_max_rss_mb: float = DEFAULT_MAX_RSS_MB
    celery_app: str | None = None  # MODULE:ATTR; default TENANT_ROUTER_CELERY_APP
    queue: str | None = None  # celery: the queue the workers consume (default "tenant_router")

    def check(self) -> None:
        """Reject an unknown executor or a negative job count before anything runs."""
        if self.name not in EXECUTORS:
            raise UsageError(f"--executor must be one of {', '.join(EXECUTORS)}, got {self.name!r}.")
        resolve_jobs(self.jobs)
        if self.name != "celery" and (self.celery_app or self.queue):
            option = "--celery-app" if self.celery_app else "--queue"
            raise UsageError(f"{option} applies to --executor celery.")


def resolve_jobs(jobs: int | None) -> int:
    """`jobs` or, for None/0, the number of CPUs."""
    if jobs is not None and jobs < 0:
        raise UsageError(f"--jobs must be 0 (all CPUs) or more, got {jobs}.")
    return jobs or os.cpu_count() or 1


def open_early(options: ExecutorSpec) -> Any:
    """What an executor needs from outside this process, opened before the run touches a database:
    for Celery, the project's app and its broker (a wrong app or a broker down is one line, nothing
    touched). None for the others. Pass it to make_executor; close() it if no executor is made."""
    if options.name != "celery":
        return None
    from .celery import Broker  # Celery is an extra: imported only when asked for

    return Broker(options.celery_app, options.queue or DEFAULT_QUEUE)


def make_executor(
    options: ExecutorSpec,
    assistants: Assistants,
    report: MigrationReport,
    setup: AssistantSetup,
    early: Any = None,
) -> Executor:
    """The executor `options` names, ready to run tasks bound as `setup` says (`early`: open_early's)."""
    if options.name == "celery":
        from .celery import CeleryExecutor

        broker = early or open_early(options)
        return CeleryExecutor(assistants, report, setup, broker=broker, max_per_host=options.max_per_host)
    jobs = resolve_jobs(options.jobs)
    if jobs == 1:
        from .inprocess import InProcessExecutor

        return InProcessExecutor(assistants, report)
    from .processes import ProcessExecutor

    return ProcessExecutor(
        assistants, report, jobs, max_per_host=options.max_per_host,
        tasks_per_worker=options.worker_tasks, max_rss_mb=options.worker_max_rss_mb,
    )  # fmt: skip
