"""Where a run's tasks are carried out: one small protocol, one sibling module per engine, and
`make_executor`, which picks one from the run's ExecutorSpec.

- `inprocess.py`: one after the other in the run's own process (`--jobs 1`);
- `processes.py`: worker processes forked from the run's process (`--jobs N`, the default);
- `celery.py`: the project's own Celery workers, on any number of machines (`--executor celery`).

Every executor carries a task out with `tasks.execute` in a process whose assistants were bound as the
run's were, and feeds the events it emits, in order, into the run's report. A fourth engine is one more
module with a class that has these two methods.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import UsageError
from ..orm_backends.assistants import Assistants, AssistantSetup
from ..preflight import Verdict
from ..record.keys import DbKey
from ..record.report import MigrationReport
from .inprocess import InProcessExecutor
from .processes import DEFAULT_MAX_RSS_MB, DEFAULT_TASKS_PER_WORKER, ProcessExecutor
from .tasks import Task


class Executor(Protocol):
    """Carries out a run's tasks and streams their events into the run's report."""

    def run(self, tasks: Iterable[Task]) -> list[tuple[DbKey, Verdict]]:
        """Carry out every task until the run is told to stop; return the inspect tasks' verdicts."""
        ...

    def close(self) -> None:
        """Release the workers (and whatever else) the executor holds."""
        ...


EXECUTORS = ("processes", "celery")
DEFAULT_QUEUE = "tenant_router"


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
        """Reject an unknown executor, a negative job count or a worker limit out of range, before anything
        runs."""
        if self.name not in EXECUTORS:
            raise UsageError(f"--executor must be one of {', '.join(EXECUTORS)}, got {self.name!r}.")
        resolve_jobs(self.jobs)
        if self.worker_tasks < 1:
            raise UsageError(f"--worker-tasks must be at least 1, got {self.worker_tasks}.")
        rss = self.worker_max_rss_mb
        if not (math.isfinite(rss) and rss > 0):
            raise UsageError(f"--worker-max-rss must be a finite number of MB above 0, got {rss:g}.")
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
    from .celery_broker import Broker  # Celery is an extra: imported only when asked for

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
        return InProcessExecutor(assistants, report)
    return ProcessExecutor(
        assistants, report, jobs, max_per_host=options.max_per_host,
        tasks_per_worker=options.worker_tasks, max_rss_mb=options.worker_max_rss_mb,
    )  # fmt: skip
