"""The structured outcome of a run: one row per (ORM, tenant, alias), built by folding events."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..safety.cancel import stop_requested
from ..safety.redact import REDACTOR
from .captured import delivering
from .events import (
    RUN_EVENTS,
    MigrationEvent,
    OutputLogged,
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
#: What --fail-fast and --max-failures count: failures, and outcomes the run lost sight of.
COUNTED = frozenset({Status.FAILED, Status.UNKNOWN})


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
    rolled_back: list[str] = field(default_factory=list)  # reported applied, then undone with a rollback
    current_unknown: bool = False  # it had started and could not be read afterwards

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
            "current_unknown": self.current_unknown,
            "rolled_back": list(self.rolled_back),
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
        if not isinstance(event, (*RUN_EVENTS, OutputLogged)):
            self._fold(event)
        with delivering():  # what the callbacks print is theirs, not output of the running database
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
        assert not isinstance(event, (*RUN_EVENTS, OutputLogged))
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
                row.current_unknown = False
            case TenantFailed(error=error, step=step, seconds=seconds, traceback=tb, status=status):
                row.status, row.error, row.failed_step = status, error, step
                row.seconds, row.traceback, row.running_step = seconds, tb, None
                _found(row, event.current, event.undone, event.unknown)
                if status in COUNTED:
                    self._count_failure(row)
            case TenantNoted(note=note):
                row.reason = note
            case TenantSkipped(reason=reason, status=status):
                row.status, row.reason = status, reason
            case TenantBusy(error=error, step=step, current=current):  # requeued or settled next
                row.error, row.failed_step, row.running_step = error, step, None
                _found(row, current, event.undone, False)

    def _count_failure(self, row: TenantResult) -> None:
        if self.fail_fast:
            self.stop(f"--fail-fast: {row.label} failed")
        elif (
            self.max_failures is not None
            and sum(r.status in COUNTED for r in self.results.values()) >= self.max_failures
        ):
            self.stop(f"--max-failures {self.max_failures} reached")

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
        as drifted, whose database does not exist, or whose outcome the run lost sight of."""
        bad = (Status.FAILED, Status.LOCKED, Status.INTERRUPTED, Status.BUSY, Status.DRIFTED, Status.MISSING,
               Status.UNKNOWN)  # fmt: skip
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


def _found(row: TenantResult, current: str | None, undone: tuple[str, ...], unknown: bool) -> None:
    """What a fresh read after a failure found: the current step, steps a rollback undid, or nothing."""
    row.current_unknown = unknown
    row.current = None if unknown else current or row.current
    for step in undone:
        if step in row.applied:
            row.applied.remove(step)
            if step not in row.rolled_back:
                row.rolled_back.append(step)


def one_line_error(exc: BaseException) -> str:
    """`ExcType: first line of message`, passwords masked."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    name = type(exc).__name__
    return REDACTOR(f"{name}: {message}" if message else name)
