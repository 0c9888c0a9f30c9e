"""Busy databases go to the back of the queue: retried with growing back-off while the fleet goes on.

Whoever carried a database out (this process, a worker process, a Celery worker) reports a step that
never got its lock as a TenantBusy event, the database left at a migration boundary. The run's report
hands each event to this responder once the run's callback has seen it, and it answers each TenantBusy:
TenantRequeued (retry k of N after a delay that counts from now), or, with no retries left, the final
TenantFailed with status `busy`. The run takes the requeued databases again once their delay is over
(rounds, see phases.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..record.events import MigrationEvent, Status, TenantBusy, TenantFailed, TenantRequeued
from ..record.keys import DbKey
from ..record.report import MigrationReport
from ..safety.retry import pause

#: --lock-retries when --lock-wait is given and it is not.
DEFAULT_LOCK_RETRIES = 3
#: --lock-retry-delay: the first retry waits this long, each next one twice as long (5, 10, 20 s ...).
DEFAULT_LOCK_RETRY_DELAY = 5.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and after how long, a busy database is tried again."""

    retries: int = DEFAULT_LOCK_RETRIES
    delay: float = DEFAULT_LOCK_RETRY_DELAY

    def delay_before(self, retry: int) -> float:
        """Seconds before retry number `retry` (1 = the first): delay, 2 x delay, 4 x delay ..."""
        return self.delay * 2 ** (retry - 1)


class Requeue:
    """The run's record of busy databases: which wait, since when, after how many tries."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.tries: dict[DbKey, int] = {}  # retries already granted
        self.due: dict[DbKey, float] = {}  # requeued, not yet taken again: when its delay is over
        self.last: dict[DbKey, TenantBusy] = {}

    def answer(self, event: MigrationEvent, report: MigrationReport) -> None:
        """The report's responder (after the run's callback has seen `event`): answers TenantBusy."""
        if isinstance(event, TenantBusy):
            self._answer(event, report)

    def _answer(self, busy: TenantBusy, report: MigrationReport) -> None:
        key = DbKey(busy.orm, busy.tenant, busy.alias)
        self.last[key] = busy
        retry = self.tries.get(key, 0) + 1
        if busy.tenant is None or retry > self.policy.retries or report.stopping:
            # A reserved database goes first and alone: nothing could overlap its back-off.
            self._settle(key, report)
            return
        self.tries[key] = retry
        delay = self.policy.delay_before(retry)
        self.due[key] = time.monotonic() + delay
        report.emit(TenantRequeued(*key, busy.error, retry, self.policy.retries, delay))

    def _settle(self, key: DbKey, report: MigrationReport, why: str = "") -> None:
        busy = self.last[key]
        tries = self.tries.get(key, 0) + 1
        error = f"gave up after {tries} attempt(s){why}: {busy.error}"
        report.emit(
            TenantFailed(*key, error, busy.step, busy.seconds, None, Status.BUSY, busy.current, busy.undone)
        )

    def waiting(self, orm: str, report: MigrationReport) -> dict[DbKey, float]:
        """Requeued databases of `orm` still to be taken again, with when each may be."""
        results = report.results
        return {
            key: due
            for key, due in self.due.items()
            if key.orm == orm and (key not in results or results[key].status is None)
        }

    def next_round(self, orm: str, report: MigrationReport) -> list[DbKey]:
        """Requeued databases of `orm` whose back-off is over, waiting for the first one if need be."""
        waiting = self.waiting(orm, report)
        if not waiting:
            return []
        if not pause(max(min(waiting.values()) - time.monotonic(), 0.0)):
            return []  # asked to stop: they end busy where they are (give_up)
        now = time.monotonic()
        due = [key for key, at in waiting.items() if at <= now]
        for key in due:
            self.due.pop(key, None)
        return due

    def give_up(self, report: MigrationReport) -> None:
        """The run stopped before taking them again: every waiting database ends busy where it is."""
        why = f" (not retried: {report.stop_reason})" if report.stop_reason else ""
        for key in list(self.due):
            self.due.pop(key)
            row = report.results.get(key)
            if row is not None and row.status is None:
                self._settle(key, report, why)
