"""The in-process executor: every task in the run's own process, one after the other (`--jobs 1`)."""

from __future__ import annotations

from collections.abc import Iterable

from ..orm_backends.assistants import Assistants
from ..preflight import Verdict
from ..record.keys import DbKey
from ..record.report import MigrationReport
from .tasks import Task, execute


class InProcessExecutor:
    """Carries tasks out one after the other in this process."""

    def __init__(self, assistants: Assistants, report: MigrationReport) -> None:
        self.assistants, self.report = assistants, report

    def run(self, tasks: Iterable[Task]) -> list[tuple[DbKey, Verdict]]:
        """Execute every task until the run is told to stop."""
        pending: list[tuple[DbKey, Verdict]] = []
        for task in tasks:
            if self.report.stopping:
                break
            pending += execute(task, self.assistants, self.report)
        return pending

    def close(self) -> None:
        """Nothing to release."""
