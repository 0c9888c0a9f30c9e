"""One ORM's view of a run's report (OrmReport) and the handle an assistant migrates one database with
(DatabaseRun): they open rows, report steps and record each database's outcome as events."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from ..errors import DatabaseBusy, DatabaseLocked
from ..safety.cancel import StopAtBoundary, StopBeforeStart, stop_requested
from ..safety.redact import REDACTOR
from .captured import running
from .events import (
    Status,
    StepApplied,
    StepStarted,
    TenantBusy,
    TenantFailed,
    TenantFinished,
    TenantPlanned,
    TenantSkipped,
    TenantStarted,
)
from .keys import DbKey
from .report import NOT_CURRENT, MigrationReport, one_line_error


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
        self.undone: tuple[str, ...] = ()  # after a failure: steps reported applied the fresh read undid
        self.unknown = False  # after a failure: it could not be read, so what it holds is unknown
        self.applied_steps: list[str] = []  # what step_applied reported, in order
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
        self.applied_steps.append(step)
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
            with running(DbKey(self.orm, tenant, alias)):  # what it writes is this database's output
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
                TenantBusy(
                    self.orm, run.tenant, run.alias, str(exc), run.step, run.found_at, seconds, run.undone
                )
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
                run.undone,
                run.unknown,
            )
        else:
            event = TenantFailed(
                self.orm, run.tenant, run.alias, one_line_error(exc), run.step, seconds, tb,
                current=run.found_at, undone=run.undone, unknown=run.unknown,
            )  # fmt: skip
        self.report.emit(event)

    @contextmanager
    def tenant(self, tenant: str | None, *, placeholder: bool = True) -> Iterator[None]:
        """Scope one tenant: an escaping error fails it; with no row recorded inside, it gets one."""
        before = len(self.report.results)
        started = time.monotonic()
        try:
            with running(DbKey(self.orm, tenant, None)):
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


def report_unconfigured(report: MigrationReport, keys: Iterable[DbKey]) -> None:
    """A `skipped` row for each tenant database whose tenant has no entry for its alias."""
    for key in keys:
        report.emit(TenantSkipped(key.orm, key.tenant, key.alias, f"no {key.orm}.{key.alias} entry"))
