"""Where a run's tasks are carried out: one small protocol, one sibling module per engine.

- `inprocess.py`: one after the other in the run's own process (`--jobs 1`);
- `processes.py`: worker processes forked from the run's process (`--jobs N`, the default);
- `celery.py`: the project's own Celery workers, on any number of machines (`--executor celery`).

Every executor carries a task out with `tasks.execute` in a process whose assistants were bound as the
run's were, and feeds the events it emits, in order, into the run's report. A fourth engine is one more
module with a class that has these two methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..preflight import Verdict
from ..record.keys import DbKey
from .tasks import Task


class Executor(Protocol):
    """Carries out a run's tasks and streams their events into the run's report."""

    def run(self, tasks: Iterable[Task]) -> list[tuple[DbKey, Verdict]]:
        """Carry out every task until the run is told to stop; return the inspect tasks' verdicts."""
        ...

    def close(self) -> None:
        """Release the workers (and whatever else) the executor holds."""
        ...
