"""The structured outcome of a run: one row per (ORM, tenant, alias), built by folding events."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..safety.cancel import stop_requested
from ..safety.redact import REDACTOR
from .events import (
    MigrationEvent,
    RunStarted,
    Status,
    StepApplied,
    StepStarted,
    TenantBusy,
    TenantFailed,
    TenantFinished,
    TenantNoted,
    TenantPlanned,
    TenantRequeued,
    TenantRetried,
    TenantSkipped,
)
from .keys import DbKey, database_label

#: Steps that leave the database's current migration where it was: an unapply, a post_migrate repair.
NOT_CURRENT = (" (backwards)", " (repair)")
SETTLED = frozenset({Status.MIGRATED, Status.UP_TO_DATE, Status.SKIPPED, Status.CREATED})


def _ignore(event: MigrationEvent) -> None:
    """The default event callback."""


@dataclass(slots=True)
class TenantResult:
    """What happened to one database (or one tenant, or one ORM, for coarse custom assistants)."""

    orm: str
    tenant: str | None
    alias: str | None
    status: Status | None = None  # None while running
    applied: list[str] = field(default_factory=list)
    pending: int | None = None
    current: str | None = None
    seconds: float = 0.0
    error: str | None = None
    failed_step: str | None = None
    reason: str | None = None
    traceback: str | None = None
    running_step: str | None = None

    @property
    def key(self) -> DbKey:
        """DbKey(orm, tenant, alias)."""
        return DbKey(self.orm, self.tenant, self.alias)

    @property
    def label(self) -> str:
        """How people name this database (see database_label)."""
        return database_label(self.tenant, self.alias)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready row."""
        return {
            "orm": self.orm,
            "tenant": self.tenant,
            "alias": self.alias,
            "reserved": self.tenant is None and self.alias is not None,
            "status": str(self.status) if self.status else "running",
            "applied": list(self.applied),
            "applied_count": len(self.applied),
            "pending": self.pending,
            "current": self.current,
            "seconds": round(self.seconds, 4),
            "error": self.error,
            "failed_step": self.failed_step,
            "reason": self.reason,
        }


class MigrationReport:
    """Every row of a run, kept in the order databases started; `emit` is the only way in."""

    def __init__(
        self,
        on_event: Callable[[MigrationEvent], None] = _ignore,
        *,
        fail_fast: bool = False,
        max_failures: int | None = None,
        responders: Sequence[Callable[[MigrationEvent, MigrationReport], None]] = (),
    ) -> None:
        self._on_event = on_event
        # called with each event once the callback has seen it, and may emit in turn (the run's requeue)
        self._responders = tuple(responders)
        self.fail_fast, self.max_failures = fail_fast, max_failures
        self.results: dict[DbKey, TenantResult] = {}
        self.stop_reason: str | None = None
        self.interrupted = False
        self.started = time.monotonic()
        self.seconds = 0.0
        self.journal: Any = None  # the run's Journal, when it writes one
        self.orm_order: tuple[str, ...] = ()  # the configured ORM order (RunStarted), for every view
        self._listeners: list[Callable[[MigrationEvent], None]] = []

    # -- the fold ---------------------------------------------------------------------------
    def emit(self, event: MigrationEvent) -> None:
        """Record `event` into the rows, then pass it to the callback."""
        if isinstance(event, RunStarted):
            self.orm_order = event.orms
        else:
            self._fold(event)
        for listener in self._listeners:
            listener(event)
        self._on_event(event)
        for responder in self._responders:
            responder(event, self)

    def add_listener(self, listener: Callable[[MigrationEvent], None]) -> None:
        """Also pass every event to `listener` (before the callback): the journal listens this way."""
        self._listeners.append(listener)

    def _row(self, orm: str, tenant: str | None, alias: str | None) -> TenantResult:
        key = DbKey(orm, tenant, alias)
        row = self.results.get(key)
        if row is None:
            row = self.results[key] = TenantResult(orm, tenant, alias)
        return row

    def _fold(self, event: MigrationEvent) -> None:
        assert not isinstance(event, RunStarted)
        if isinstance(event, TenantRetried | TenantRequeued):  # news only: the outcome is still to come
            return
        row = self._row(event.orm, event.tenant, event.alias)
        match event:
            case TenantPlanned(steps=steps, current=current):
                row.pending, row.current = len(steps), current
            case StepStarted(step=step):
                row.running_step = step
            case StepApplied(step=step):
                row.applied.append(step)
                row.running_step = None
                if not step.endswith(NOT_CURRENT):
                    row.current = step
            case TenantFinished(status=status, current=current, seconds=seconds, note=note):
                row.status, row.seconds = status, seconds
                row.reason = note or row.reason
                row.current = current or row.current
                row.error = row.failed_step = None  # a requeued database that made it after all
            case TenantFailed(error=error, step=step, seconds=seconds, traceback=tb, status=status):
                row.status, row.error, row.failed_step = status, error, step
                row.seconds, row.traceback, row.running_step = seconds, tb, None
                row.current = event.current or row.current
                if status is Status.FAILED:
                    self._count_failure(row)
            case TenantNoted(note=note):
                row.reason = note
            case TenantSkipped(reason=reason, status=status):
                row.status, row.reason = status, reason
            case TenantBusy(error=error, step=step, current=current):  # requeued or settled next
                row.error, row.failed_step, row.running_step = error, step, None
                row.current = current or row.current

    def _count_failure(self, row: TenantResult) -> None:
        if self.fail_fast:
            self.stop(f"--fail-fast: {row.label} failed")
        elif self.max_failures is not None and self._failed_count() >= self.max_failures:
            self.stop(f"--max-failures {self.max_failures} reached")

    def _failed_count(self) -> int:
        return sum(1 for r in self.results.values() if r.status is Status.FAILED)

    # -- views ------------------------------------------------------------------------------
    def rows(self, orm: str | None = None) -> list[TenantResult]:
        """Rows ORM by ORM (configured order), each ORM's in start order; optionally of one ORM."""
        return [r for r in self._in_orm_order() if orm is None or r.orm == orm]

    @property
    def failures(self) -> list[TenantResult]:
        """Rows that failed."""
        return [r for r in self._in_orm_order() if r.status is Status.FAILED]

    @property
    def problems(self) -> list[TenantResult]:
        """Rows that failed, were locked by another run, stayed busy, were interrupted, were refused
        as drifted, or whose database does not exist."""
        bad = (Status.FAILED, Status.LOCKED, Status.INTERRUPTED, Status.BUSY, Status.DRIFTED, Status.MISSING)
        return [r for r in self._in_orm_order() if r.status in bad]

    @property
    def ok(self) -> bool:
        """True when every database ended migrated, up to date or skipped."""
        return all(r.status in SETTLED for r in self.results.values())

    def counts(self, orm: str | None = None) -> dict[str, int]:
        """How many rows ended in each status."""
        counts = {str(s): 0 for s in Status}
        for row in self.rows(orm):
            key = str(row.status) if row.status else "running"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def orms(self) -> list[str]:
        """ORM keys in the configured order (an ORM the run did not announce: after, as it appeared),
        whichever ORM's databases settled first."""
        seen = dict.fromkeys(r.orm for r in self.results.values())
        return [orm for orm in self.orm_order if orm in seen] + [o for o in seen if o not in self.orm_order]

    def _in_orm_order(self) -> list[TenantResult]:
        """Every row, ORM by ORM in the configured order, each ORM's in start order."""
        rank = {orm: i for i, orm in enumerate(self.orms())}
        return sorted(self.results.values(), key=lambda r: rank[r.orm])

    def to_dict(self) -> dict[str, Any]:
        """The whole report, JSON-ready."""
        return {
            "ok": self.ok,
            "run": self.journal.run_id if self.journal is not None else None,
            "journal": str(self.journal.path) if self.journal is not None else None,
            "interrupted": self.interrupted,
            "stopped": self.stop_reason,
            "seconds": round(self.seconds, 4),
            "counts": self.counts(),
            "results": [r.to_dict() for r in self._in_orm_order()],
        }

    # -- for the run ------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """True once no new database may start (fail-fast, max failures, reserved failure, interrupt)."""
        if self.stop_reason is None and stop_requested():
            self.interrupted = True
            self.stop_reason = "interrupted"
        return self.stop_reason is not None

    def stop(self, reason: str) -> None:
        """Start no more databases; the engine reports the rest as not started."""
        if self.stop_reason is None:
            self.stop_reason = reason


def one_line_error(exc: BaseException) -> str:
    """`ExcType: first line of message`, passwords masked."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    name = type(exc).__name__
    return REDACTOR(f"{name}: {message}" if message else name)
