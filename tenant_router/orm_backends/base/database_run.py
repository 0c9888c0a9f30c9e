"""One database as one report row: its run lock, retries after a lost connection, and what a lock wait
or a statement timeout left behind (BaseOrmMigrationAsst.run_database and hold_run_lock call these)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from ...errors import DatabaseBusy, DatabaseLocked, StepLimitError
from ...preflight import BookkeepingRead, Inspection
from ...record.events import TenantRetried
from ...record.keys import DbKey
from ...record.orm_report import DatabaseRun, OrmReport
from ...record.report import one_line_error
from ...safety.cancel import StopAtBoundary, StopBeforeStart, stop_requested
from ...safety.dberrors import is_lock_timeout, is_statement_timeout
from ...safety.locks import Held, database_lock
from ...safety.lockwait import StepLimits
from ...safety.retry import delay_before, pause, transient
from ...safety.sessions import migrating
from .manager import BaseOrmManager

#: How long a run waits for a reserved database another run is migrating (or --lock-timeout, if longer).
RESERVED_LOCK_WAIT = 600.0


class MigratesDatabases(Protocol):
    """What running one database needs of its assistant (BaseOrmMigrationAsst has all of it)."""

    report: OrmReport
    limits: StepLimits

    @property
    def manager(self) -> BaseOrmManager:
        """The manager of the assistant's ORM."""
        ...

    def run_lock(
        self, tenant: str | None, alias: str, db_config: dict[str, Any]
    ) -> AbstractContextManager[None]:
        """Hold the database's run lock."""
        ...

    def migrate_database(self, run: DatabaseRun, db_config: dict[str, Any]) -> None:
        """Bring one database to its latest migration, reporting through `run`."""
        ...

    def step_rolled_back(self, step: str, db_config: dict[str, Any]) -> bool:
        """True when a step whose connection died mid-way left nothing behind."""
        ...

    def read_position(
        self, tenant: str | None, alias: str, db_config: dict[str, Any], step: str | None = None
    ) -> Inspection | BaseException | None:
        """What the database holds now, read over a fresh connection; the read's error; None: cannot."""
        ...


def run_database(asst: MigratesDatabases, tenant: str | None, alias: str, db_config: dict[str, Any]) -> None:
    """One database as a report row: run lock, migrate_database, outcome; errors stay in the row."""
    if stop_requested():  # asked to stop before this one began: leave it alone
        asst.report.not_started(tenant, alias, "interrupted")
        return
    key = DbKey(asst.manager.orm_key, tenant, alias)
    with asst.report.database(tenant, alias) as run, migrating(key):
        for attempt in itertools.count(2):
            try:
                with asst.run_lock(tenant, alias, db_config):
                    asst.migrate_database(run, db_config)
                return
            except (DatabaseLocked, StopBeforeStart):
                raise  # nothing was done to it
            except KeyboardInterrupt:  # aborted mid-step (a second Ctrl-C): say what it holds now
                if run.total is not None:
                    reread(asst, run, tenant, alias, db_config)
                raise
            except Exception as exc:
                _check_limits(asst, run, exc, tenant, alias, db_config)
                delay = _retry_delay(asst, run, exc, attempt, db_config)
                if delay is None:
                    if run.total is not None:  # it had started: steps reported may have been undone
                        reread(asst, run, tenant, alias, db_config)
                    raise
                asst.report.report.emit(
                    TenantRetried(asst.manager.orm_key, tenant, alias, one_line_error(exc), attempt, delay)
                )
                run.step = None
                if not pause(delay):
                    raise StopAtBoundary(
                        f"interrupted while waiting to retry: {one_line_error(exc)}"
                    ) from exc


def reread(
    asst: MigratesDatabases, run: DatabaseRun, tenant: str | None, alias: str, db_config: dict[str, Any]
) -> None:
    """After a failure or an interrupt: where a fresh read finds the database (`run.found_at`), which
    steps reported applied it no longer holds (`run.undone`), or that it cannot know (`run.unknown`)."""
    found = asst.read_position(tenant, alias, db_config, run.step)
    if isinstance(found, BaseException):
        run.found_at, run.unknown = None, True
    elif found is not None:
        run.found_at = found.current
        run.undone = tuple(step for step in run.applied_steps if step in found.pending)


def _check_limits(
    asst: MigratesDatabases,
    run: DatabaseRun,
    exc: Exception,
    tenant: str | None,
    alias: str,
    db_config: dict[str, Any],
) -> None:
    """Raise DatabaseBusy for a lock wait that left the database at a boundary (the run requeues it),
    StepLimitError for one that left a step partly applied or for a statement timeout."""
    limits = asst.limits
    waited = limits.lock_wait is not None and is_lock_timeout(exc)
    timed_out = limits.statement_timeout is not None and is_statement_timeout(exc)
    if not (waited or timed_out):
        return
    step, writes = run.step, run.step_writes
    whole = step is None or asst.step_rolled_back(step, db_config)
    reread(asst, run, tenant, alias, db_config)
    at = f"left at {run.found_at or 'an unknown migration'}"
    cause = one_line_error(exc)
    if timed_out:
        what = (
            "rolled back"
            if whole
            else f"partly applied ({writes} statement(s) committed)"
            if writes
            else "nothing of it applied"
        )
        raise StepLimitError(
            f"statement timeout: a statement of {step or 'the run'} ran longer than "
            f"--statement-timeout {limits.statement_timeout:g}s; {what}, {at}: {cause}"
        ) from exc
    limit = f"--lock-wait {limits.lock_wait:g}s"
    if step is None:
        raise DatabaseBusy(f"no lock within {limit} outside any migration, {at}: {cause}") from exc
    if whole:
        raise DatabaseBusy(f"no lock within {limit} in {step}: rolled back, {at}: {cause}") from exc
    if not writes:
        raise DatabaseBusy(
            f"no lock within {limit} at the first change {step} makes: nothing of it applied, {at}: {cause}"
        ) from exc
    raise StepLimitError(
        f"no lock within {limit} in {step} after {writes} of its statement(s) had committed "
        f"(no transactional DDL, or atomic = False): partly applied and not recorded, so not "
        f"retried; {at} plus part of {step}: finish or undo it by hand: {cause}"
    ) from exc


def _retry_delay(
    asst: MigratesDatabases, run: DatabaseRun, exc: Exception, attempt: int, db_config: dict[str, Any]
) -> float | None:
    """Seconds before the next attempt at a database whose connection failed; None: report it failed.

    Only connection-level errors, and only at a boundary: outside any step, or inside one that a
    lost connection rolled back whole (step_rolled_back).
    """
    # A tenant database got here through the pre-flight, which read it: a refusal now is a restart.
    # A reserved database is first contacted here: refused at once is a wrong address, not a restart.
    answered_before = run.tenant is not None or run.total is not None
    if stop_requested() or not transient(exc, answered_before=answered_before):
        return None
    if run.step is not None and not asst.step_rolled_back(run.step, db_config):
        return None  # it may be half-applied: never run it again
    return delay_before(attempt)


@contextmanager
def run_lock_held(
    read: BookkeepingRead | None,
    lock_timeout: float | None,
    tenant: str | None,
    conn: Callable[[], Any] | None,
) -> Iterator[None]:
    """Hold the run lock of the database `read` names on the DB-API connection `conn()` opens (None: one
    of its own). Nothing when the run takes no locks (no lock_timeout) or the ORM cannot name it."""
    if read is None or lock_timeout is None:
        yield
        return
    # Every run (each shard of a sharded deploy) migrates the reserved databases first: another
    # run holding one is migrating it right now, so wait for it and then find it up to date.
    timeout = lock_timeout if tenant is not None else max(lock_timeout, RESERVED_LOCK_WAIT)
    with database_lock(read.identity, read.connect, timeout, conn=conn) as held:
        if not held:
            raise DatabaseLocked(f"locked by another run (waited {timeout:g}s){_held_by(held)}")
        yield


def _held_by(held: Held) -> str:
    """What the `locked` row adds about the holder: it may be no run at all, but a killed run's
    statement the server still runs (a kill -9 cannot end it)."""
    if held.holder is None:
        return ""
    return (
        f": held by {held.holder}; if no other run is going on, it may be a killed run's statement still "
        f"running on the server: it ends by itself, or SELECT pg_terminate_backend({held.pid}) ends it now"
    )
