"""What every executor that sends tasks elsewhere does alike: the waiting queue with its per-server cap,
failing what a lost worker never finished, and what an interrupt means.

The processes executor and the Celery executor keep their own workers; the order in which tasks leave,
the connection cap they leave under, and how an unfinished task is reported live here, once.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Collection, Iterable

from ..record.events import Status, TenantFailed
from ..record.keys import DbKey
from ..record.report import MigrationReport
from ..safety.cancel import request_stop, stop_requested
from .tasks import Task


class Dispatch:
    """The tasks not sent yet, in order, and how many of each server's are out: never more than
    `max_per_host` databases of one server at once, across all workers (None: no cap)."""

    def __init__(self, max_per_host: int | None = None) -> None:
        self.max_per_host = max_per_host
        self.waiting: deque[Task] = deque()
        self.load: Counter[str | None] = Counter()

    def queue(self, tasks: Iterable[Task]) -> None:
        """Wait with these tasks (those of one executor run() call)."""
        self.waiting = deque(tasks)

    def next(self) -> Task | None:
        """The first waiting task whose server is under the cap, taken off the queue (not counted out
        until sent)."""
        for index, task in enumerate(self.waiting):
            if self.max_per_host is None or task.host is None or self.load[task.host] < self.max_per_host:
                del self.waiting[index]
                return task
        return None

    def sent(self, task: Task) -> None:
        """`task` is out: it counts against its server's cap."""
        self.load[task.host] += 1

    def done(self, task: Task) -> None:
        """`task` is back (finished, failed or given up): its server has room again."""
        self.load[task.host] -= 1


def fail_unfinished(
    report: MigrationReport,
    units: Iterable[DbKey],
    finished: Collection[DbKey],
    error: str,
    status: Status = Status.FAILED,
) -> None:
    """Every database of `units` with no outcome from its worker (not in `finished`) ends `status` with
    `error`, naming the step the worker was in when the run last heard of it."""
    for key in units:
        if key in finished:
            continue
        row = report.results.get(key)
        step = row.running_step if row else None
        report.emit(TenantFailed(*key, error, step, 0.0, None, status))


def interrupted(report: MigrationReport) -> bool:
    """An interrupt reached the run: start nothing new, running databases stop at a boundary. True when
    the run was already stopping (a second interrupt: the executor aborts what runs)."""
    aborting = stop_requested()
    request_stop()
    report.interrupted = True
    report.stop("interrupted")
    return aborting
