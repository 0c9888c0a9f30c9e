"""Lock-safe steps: how long each migration step's statements may wait for a lock, or run, per engine.

A step is one Django migration or one Alembic revision. From the first statement of each step on, the
connection that migrates runs under the run's limits (`--lock-wait`, `--statement-timeout`), set again
at every step because PostgreSQL undoes a `SET` made in a transaction that is rolled back. The reads
that plan a database (its bookkeeping table, the pre-flight's own connection) run before the first
step and are left alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Statements that change nothing a later retry would trip over (reads, session and transaction control).
_HARMLESS = re.compile(
    r"\s*(?:/\*.*?\*/\s*)*(SELECT|SHOW|SET|RESET|PRAGMA|EXPLAIN|DESCRIBE|DESC|WITH|BEGIN|START|COMMIT|"
    r"ROLLBACK|SAVEPOINT|RELEASE)\b",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class StepLimits:
    """Seconds a step's statement may wait for a lock, and may run; None: the server's own setting."""

    lock_wait: float | None = None
    statement_timeout: float | None = None

    def __bool__(self) -> bool:
        return self.lock_wait is not None or self.statement_timeout is not None


def limit_statements(limits: StepLimits, vendor: str, *, mariadb: bool = True) -> list[str]:
    """The session statements that set `limits` on a `vendor` connection (postgresql, mysql, mariadb,
    sqlite)."""
    out: list[str] = []
    if vendor == "postgresql":
        if limits.lock_wait is not None:
            out.append(f"SET lock_timeout = '{_ms(limits.lock_wait)}ms'")
        if limits.statement_timeout is not None:
            out.append(f"SET statement_timeout = '{_ms(limits.statement_timeout)}ms'")
    elif vendor in ("mysql", "mariadb"):
        if limits.lock_wait is not None:  # whole seconds only, at least one
            wait = max(1, math.ceil(limits.lock_wait))
            out.append(f"SET SESSION lock_wait_timeout = {wait}, innodb_lock_wait_timeout = {wait}")
        if limits.statement_timeout is not None:
            out.append(
                f"SET SESSION max_statement_time = {limits.statement_timeout:.3f}"
                if mariadb
                else f"SET SESSION max_execution_time = {_ms(limits.statement_timeout)}"
            )
    elif vendor == "sqlite" and limits.lock_wait is not None:  # SQLite has no statement time limit
        out.append(f"PRAGMA busy_timeout = {_ms(limits.lock_wait)}")
    return out


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def apply_limits(dbapi: Any, vendor: str, limits: StepLimits) -> None:
    """Set `limits` for the session of the DB-API connection `dbapi` (`vendor`: postgresql, mysql,
    mariadb or sqlite, as the ORM knows it: MariaDB and MySQL name the statement limit differently)."""
    statements = limit_statements(limits, vendor, mariadb=vendor == "mariadb")
    if not statements:
        return
    cursor = dbapi.cursor()
    try:
        for sql in statements:
            cursor.execute(sql)
    finally:
        cursor.close()


def changes_database(sql: str) -> bool:
    """True unless `sql` is a read or session/transaction control (conservative: unknown counts)."""
    return not _HARMLESS.match(sql)


class StepGuard:
    """Sets the limits at the first statement of each step and counts the step's statements that
    changed the database (what a lock timeout on a database without transactional DDL leaves behind).

    `step` reads the running step (None between steps); `dbapi` returns the DB-API connection.
    """

    def __init__(self, limits: StepLimits, vendor: str, dbapi: Callable[[], Any], run: Any) -> None:
        self.limits, self.vendor, self.dbapi, self.run = limits, vendor, dbapi, run
        self._armed_for: tuple[str | None, int] | None = None

    def before(self, sql: str) -> None:
        """Called before each statement: a new step, or the first change outside one (the bookkeeping
        table created), gets the limits first; the reads that plan the database do not."""
        step = self.run.step
        if step is None and (self._armed_for is not None or not changes_database(sql)):
            return
        mark = (step, self.run.applied)
        if mark != self._armed_for:
            self._armed_for = mark
            apply_limits(self.dbapi(), self.vendor, self.limits)

    def after(self, sql: str) -> None:
        """Called after each statement that succeeded."""
        if self.run.step is not None and changes_database(sql):
            self.run.step_writes += 1
