"""The structured outcome of a run: one row per (ORM, tenant, alias), built by folding events."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import DatabaseBusy, DatabaseLocked
from ..safety.cancel import StopAtBoundary, StopBeforeStart, stop_requested
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
    TenantPlanned,
    TenantRequeued,
    TenantRetried,
    TenantSkipped,
    TenantStarted,
)
from .keys import DbKey, database_label

#: Steps that leave the database's current migration where it was: an unapply, a post_migrate repair.
NOT_CURRENT = (" (backwards)", " (repair)")
SETTLED = frozenset({Status.MIGRATED, Status.UP_TO_DATE, Status.SKIPPED})


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
        self._listeners: list[Callable[[MigrationEvent], None]] = []

    # -- the fold ---------------------------------------------------------------------------
    def emit(self, event: MigrationEvent) -> None:
        """Record `event` into the rows, then pass it to the callback."""
        if not isinstance(event, RunStarted):
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
            case TenantFinished(status=status, current=current, seconds=seconds):
                row.status, row.seconds = status, seconds
                row.current = current or row.current
                row.error = row.failed_step = None  # a requeued database that made it after all
            case TenantFailed(error=error, step=step, seconds=seconds, traceback=tb, status=status):
                row.status, row.error, row.failed_step = status, error, step
                row.seconds, row.traceback, row.running_step = seconds, tb, None
                row.current = event.current or row.current
                if status is Status.FAILED:
                    self._count_failure(row)
            case TenantSkipped(reason=reason, status=status):
                row.status, row.reason = status, reason
            case TenantBusy(error=error, step=step, current=current):  # requeued or settled next
                row.error, row.failed_step, row.running_step = error, step, None
                row.current = current or row.current

    def _count_failure(self, row: TenantResult) -> None:
        if self.fail_fast:
            self.stop(f"--fail-fast: {row.label} failed")
        elif self.max_failures is not None and len(self.failures) >= self.max_failures:
            self.stop(f"--max-failures {self.max_failures} reached")

    # -- views ------------------------------------------------------------------------------
    def rows(self, orm: str | None = None) -> list[TenantResult]:
        """Rows in start order, optionally of one ORM."""
        return [r for r in self.results.values() if orm is None or r.orm == orm]

    @property
    def failures(self) -> list[TenantResult]:
        """Rows that failed."""
        return [r for r in self.results.values() if r.status is Status.FAILED]

    @property
    def problems(self) -> list[TenantResult]:
        """Rows that failed, were locked by another run, stayed busy, were interrupted, or were refused
        as drifted."""
        bad = (Status.FAILED, Status.LOCKED, Status.INTERRUPTED, Status.BUSY, Status.DRIFTED)
        return [r for r in self.results.values() if r.status in bad]

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
        """ORM keys in the order they appear."""
        return list(dict.fromkeys(r.orm for r in self.results.values()))

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
            "results": [r.to_dict() for r in self.results.values()],
        }

    # -- for assistants ---------------------------------------------------------------------
    def for_orm(self, orm: str) -> OrmReport:
        """The reporting handle one ORM's assistant writes through."""
        return OrmReport(self, orm)

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


class DatabaseRun:
    """The handle an assistant uses while it migrates one database."""

    def __init__(self, orm_report: OrmReport, tenant: str | None, alias: str | None) -> None:
        self._report = orm_report.report
        self.orm, self.tenant, self.alias = orm_report.orm, tenant, alias
        self.started = time.monotonic()
        self.applied = 0
        self.current: str | None = None
        self.step: str | None = None
        self._step_started = self.started
        self.up_to_date = False
        self.total: int | None = None
        self.found_at: str | None = None  # after a failure: where a fresh read found the database
        self.step_writes = 0  # statements of the running step that changed the database (when counted)

    def planned(self, steps: list[str] | tuple[str, ...], current: str | None = None) -> None:
        """Announce the steps this database will go through (empty means up to date)."""
        self.current, self.total = current, len(steps)
        self.up_to_date = not steps
        self._report.emit(TenantPlanned(self.orm, self.tenant, self.alias, tuple(steps), current))

    def step_started(self, step: str) -> None:
        """A step (migration, revision) begins."""
        self.step, self._step_started, self.step_writes = step, time.monotonic(), 0
        self._report.emit(StepStarted(self.orm, self.tenant, self.alias, step))

    def step_applied(self, step: str | None = None) -> None:
        """The running step (or `step`) was applied."""
        step = step or self.step or "?"
        self.applied += 1
        if not step.endswith(NOT_CURRENT):  # unapplying (or a repair pass) makes no step current
            self.current = step
        self.step = None
        seconds = time.monotonic() - self._step_started
        self._report.emit(StepApplied(self.orm, self.tenant, self.alias, step, seconds))
        if stop_requested() and (self.total is None or self.applied < self.total):
            raise StopAtBoundary(f"interrupted after {step}")


class OrmReport:
    """One ORM's view of the run: opens database rows and records their outcome."""

    def __init__(self, report: MigrationReport, orm: str) -> None:
        self.report, self.orm = report, orm

    @property
    def stopping(self) -> bool:
        """True once no new database may start."""
        return self.report.stopping

    @contextmanager
    def database(self, tenant: str | None, alias: str | None) -> Iterator[DatabaseRun]:
        """Run one database: records ok/up-to-date/failed; an exception stays inside this row."""
        run = DatabaseRun(self, tenant, alias)
        self.report.emit(TenantStarted(self.orm, tenant, alias))
        try:
            yield run
        except Exception as exc:
            self._failed(run, exc)
        except BaseException as exc:  # interrupted: record it, then let it go on up
            self._failed(run, exc)
            raise
        else:
            status = Status.MIGRATED if run.applied else Status.UP_TO_DATE
            seconds = time.monotonic() - run.started
            self.report.emit(
                TenantFinished(self.orm, tenant, alias, status, run.applied, run.current, seconds)
            )

    def _failed(self, run: DatabaseRun, exc: BaseException) -> None:
        tb = REDACTOR("".join(traceback.format_exception(exc)))
        seconds = time.monotonic() - run.started
        if isinstance(exc, StopBeforeStart):  # nothing was done to it
            self.not_started(run.tenant, run.alias, str(exc))
            return
        if isinstance(exc, DatabaseBusy):  # not an outcome yet: the run requeues it or settles it busy
            self.report.emit(
                TenantBusy(self.orm, run.tenant, run.alias, str(exc), run.step, run.found_at, seconds)
            )
            return
        if isinstance(exc, DatabaseLocked):
            event = TenantFailed(
                self.orm, run.tenant, run.alias, str(exc), None, seconds, None, Status.LOCKED
            )
        elif isinstance(exc, StopAtBoundary | KeyboardInterrupt):
            error = str(exc) if isinstance(exc, StopAtBoundary) else "interrupted"
            event = TenantFailed(
                self.orm,
                run.tenant,
                run.alias,
                error,
                run.step,
                seconds,
                tb,
                Status.INTERRUPTED,
                run.found_at,
            )
        else:
            event = TenantFailed(
                self.orm, run.tenant, run.alias, one_line_error(exc), run.step, seconds, tb,
                current=run.found_at,
            )  # fmt: skip
        self.report.emit(event)

    @contextmanager
    def tenant(self, tenant: str | None, *, placeholder: bool = True) -> Iterator[None]:
        """Scope one tenant: an escaping error fails it; with no row recorded inside, it gets one."""
        before = len(self.report.results)
        started = time.monotonic()
        try:
            yield
        except Exception as exc:
            self._orphan_failure(tenant, exc, started)
        except BaseException as exc:
            self._orphan_failure(tenant, exc, started)
            raise
        else:
            if placeholder and len(self.report.results) == before:
                seconds = time.monotonic() - started
                self.report.emit(TenantStarted(self.orm, tenant, None))
                self.report.emit(TenantFinished(self.orm, tenant, None, Status.MIGRATED, 0, None, seconds))

    def _orphan_failure(self, tenant: str | None, exc: BaseException, started: float) -> None:
        """An exception raised outside any database() block fails the tenant as a whole."""
        run = DatabaseRun(self, tenant, None)
        run.started = started
        self.report.emit(TenantStarted(self.orm, tenant, None))
        self._failed(run, exc)

    def skipped(self, tenant: str | None, alias: str | None, reason: str) -> None:
        """This database is not this ORM's business (no configuration for it)."""
        self.report.emit(TenantSkipped(self.orm, tenant, alias, reason))

    def not_started(self, tenant: str | None, alias: str | None, reason: str) -> None:
        """This database was left alone because the run stopped early."""
        self.report.emit(TenantSkipped(self.orm, tenant, alias, reason, Status.NOT_STARTED))
