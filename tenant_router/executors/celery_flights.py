"""The Celery executor's bookkeeping of the tasks it has out: `Flight`, and how pending databases are
bundled into one task.

Pending databases travel in bundles of up to TENANT_ROUTER_CELERY_BUNDLE databases of one server (a
task costs ~5 ms to send plus a receive, an ack and two replies), never more than the queue divided by
the tasks in flight (bundles shrink at the tail); one a task with --fail-fast or --max-failures, which
stop after an exact count.
"""

from __future__ import annotations

import functools
import itertools
from collections import deque
from dataclasses import dataclass, field

from ..record.keys import DbKey
from .tasks import Task

BUNDLE_MAX = 8


@dataclass(eq=False)
class Flight:
    """A task sent to the broker and not finished yet."""

    task: Task
    celery_id: str
    sent: float
    started: float | None = None
    worker: str | None = None
    beat: float = 0.0
    begun: set[DbKey] = field(default_factory=set)  # databases the worker said anything of
    finished: set[DbKey] = field(default_factory=set)

    @functools.cached_property
    def own(self) -> dict[DbKey, DbKey]:
        """The task's databases, by value, to the run's own key objects."""
        return {key: key for key in self.task.units}

    def unbegun(self) -> Task | None:
        """A lost worker's bundle: the databases it never began, as a task of their own (no longer this
        flight's to report)."""
        unbegun = tuple(k for k in self.task.units if k not in self.begun)
        if self.task.kind != "migrate" or not unbegun:
            return None
        self.finished.update(unbegun)
        return Task("migrate", unbegun, self.task.host)


def bundle(task: Task, queue: deque[Task], bundle_max: int, window: int) -> Task:
    """A migrate task with the next queued databases of its server, when the queue is long."""
    size = min(bundle_max, -(-(len(queue) + 1) // window))
    if task.kind != "migrate" or size < 2:
        return task
    taken = [t for t in itertools.islice(queue, 4 * size) if t.kind == "migrate" and t.host == task.host]
    taken = taken[: size - 1]
    for other in taken:
        queue.remove(other)
    units = task.units + tuple(k for t in taken for k in t.units)
    return Task("migrate", units, task.host, id=task.id)
