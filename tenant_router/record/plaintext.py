"""Plain-text progress lines and summary: for logs, `migrate_to_all()` and off-terminal CLI output."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..safety.redact import REDACTOR
from .events import (
    MigrationEvent,
    OutputLogged,
    RunStarted,
    Status,
    StepApplied,
    TenantFailed,
    TenantFinished,
    TenantNoted,
    TenantRequeued,
    TenantRetried,
    TenantSkipped,
    TenantStarted,
    WorkerLost,
)
from .keys import database_label
from .report import MigrationReport, TenantResult

BACKWARDS = " (backwards)"  # how an unapplied step is named (Django; Alembic downgrades too)

#: Characters that move the cursor, end a line, colour or reorder text on a terminal (C0, DEL, C1,
#: Unicode line separators and bidirectional controls): never written raw from user-supplied strings.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
INTERRUPTED_LINE = "Interrupted: no new database was started; running ones stopped at a migration boundary."


def _visible(match: re.Match[str]) -> str:
    char = match[0]
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def printable(text: str) -> str:
    """`text` with control characters as visible escapes (`\\n`, `\\x1b`): one line, no terminal effects."""
    return _CONTROL.sub(_visible, text)


STATUS_WORDS = {
    Status.MIGRATED: "migrated",
    Status.UP_TO_DATE: "up to date",
    Status.FAILED: "failed",
    Status.SKIPPED: "skipped",
    Status.NOT_STARTED: "not started",
    Status.LOCKED: "locked",
    Status.INTERRUPTED: "interrupted",
    Status.BUSY: "busy",
    Status.DRIFTED: "drifted",
    Status.MISSING: "missing",
    Status.CREATED: "created",
    Status.UNKNOWN: "unknown",
}


#: The least level of output (log records, print(), warnings of the code a run carries out) shown at
#: each verbosity: -q errors, by default warnings, -v everything from INFO, -vv everything.
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def output_shown(event: OutputLogged, verbosity: int) -> bool:
    """Whether `event` is shown at this verbosity (0 = -q, 1 = default, 2 = -v, 3 = -vv)."""
    least = 40 if verbosity <= 0 else 30 if verbosity == 1 else 20 if verbosity == 2 else 0
    return _LEVELS.get(event.level, 30) >= least


def output_line(event: OutputLogged) -> str:
    """`sqlalchemy_orm t1/default: INFO [alembic.runtime.migration] Running upgrade ...` (first line)."""
    where = f"{event.orm} {database_label(event.tenant, event.alias)}: " if event.orm else ""
    first, *more = event.message.splitlines() or [""]
    extra = f" (+{len(more)} lines)" if more else ""
    return printable(REDACTOR(f"{where}{event.level} [{event.logger}] {first}{extra}"))


def left_at(current: str | None, step: str | None = None, unknown: bool = False) -> str:
    """Where a database that did not finish was left, as read after the fact: `at base; stopped in c3`,
    `unknown (could not read it); stopped in c3`."""
    if not (current or unknown):
        return f"stopped in {step}" if step else "-"
    where = "unknown (could not read it)" if unknown else f"at {current}"
    return f"{where}; stopped in {step}" if step else where


def where_left(row: TenantResult) -> str:
    """` at X; stopped in Y` for a row that stopped mid-way (interrupted, busy, a step failed or was read
    again), else "": what the database holds, re-read after the fact."""
    if row.status is Status.UNKNOWN:  # the run lost sight of it: where it stopped is not known either
        return ""
    stopped = row.status in (Status.INTERRUPTED, Status.BUSY) or row.failed_step or row.current_unknown
    return f" {left_at(row.current, row.failed_step, row.current_unknown)}" if stopped else ""


class PlainProgress:
    """An on_event callback writing one line per database start, finish and failure: `[12/400] ...`."""

    def __init__(self, write: Callable[[str], None], *, verbosity: int = 1) -> None:
        self.write, self.verbosity = write, verbosity
        self.total = 0
        self.started = 0
        self.numbers: dict[tuple[str, str | None, str | None], int] = {}
        self.unapplied: dict[tuple[str, str | None, str | None], int] = {}  # steps rolled back, per database

    def _counter(self, key: tuple[str, str | None, str | None], *, new: bool = False) -> str:
        if new or key not in self.numbers:
            self.started += 1
            self.numbers[key] = self.started
        total = max(self.total, self.started)
        return f"[{self.numbers[key]}/{total}]"

    def __call__(self, event: MigrationEvent) -> None:
        """Write the line for `event`, if it has one at this verbosity."""
        if isinstance(event, RunStarted):
            self.total = event.planned
            if self.verbosity >= 1:
                self.write(f"Migrating {event.planned} database(s) of {', '.join(event.orms)}")
            return
        if isinstance(event, OutputLogged):
            if output_shown(event, self.verbosity):
                self.write(output_line(event))
            return
        if isinstance(event, WorkerLost):  # its databases' own lines follow
            if self.verbosity >= 1:
                self.write(printable(REDACTOR(f"worker {event.worker} lost: {event.error}")))
            return
        key = (event.orm, event.tenant, event.alias)
        where = f"{event.orm} {database_label(event.tenant, event.alias)}"
        line: str | None = None
        if isinstance(event, StepApplied) and event.step.endswith(BACKWARDS):
            self.unapplied[key] = self.unapplied.get(key, 0) + 1
        match event:
            case TenantStarted() if self.verbosity >= 1:  # started again (a retry, a redelivery): same number
                line = f"{self._counter(key)} {where}: started"
            case TenantStarted():
                self._counter(key)
            case StepApplied(step=step, seconds=s) if self.verbosity >= 2:
                line = f"{self._counter(key)} {where}: applied {step} ({s:.2f}s)"
            case TenantFinished(status=Status.CREATED, note=note, seconds=s) if self.verbosity >= 1:
                line = f"{self._counter(key)} {where}: created, {note} ({s:.2f}s)"
            case TenantFinished(status=status, applied=n, current=current, seconds=s) if self.verbosity >= 1:
                done = finished_steps(n, self.unapplied.pop(key, 0), current)
                line = f"{self._counter(key)} {where}: {STATUS_WORDS[status]}{done} ({s:.2f}s)"
            case TenantFailed(error=error, step=step, seconds=s, status=status):
                at = f" at {step}" if step else ""
                word = "FAILED" if status is Status.FAILED else STATUS_WORDS[status].upper()
                reread = event.undone or event.unknown or (status is Status.INTERRUPTED and event.current)
                found = f" (database {left_at(event.current, None, event.unknown)})" if reread else ""
                line = f"{self._counter(key)} {where}: {word}{at}{found}: {error} ({s:.2f}s)"
            case TenantRetried(error=error, attempt=attempt, delay=delay) if self.verbosity >= 1:
                line = f"{self._counter(key)} {where}: retrying in {delay:g}s (attempt {attempt}): {error}"
            case TenantRequeued(error=error, attempt=n, retries=of, delay=delay) if self.verbosity >= 1:
                line = (
                    f"{self._counter(key)} {where}: waiting for lock, retry {n}/{of} in {delay:g}s: {error}"
                )
            case TenantNoted(note=note) if self.verbosity >= 1:
                line = f"{self._counter(key)} {where}: {note}"
            case TenantSkipped(reason=reason, status=status) if self.verbosity >= 1:
                line = f"{self._counter(key, new=True)} {where}: {STATUS_WORDS[status]} ({reason})"
        if line is not None:
            self.write(printable(REDACTOR(line)))


def finished_steps(applied: int, unapplied: int, current: str | None) -> str:
    """`, 2 applied at shop.0004_x`, `, rolled back 2 to shop.0002_y`, or ` at shop.0004_x` (none)."""
    at = f" at {current}" if current else ""
    if unapplied:
        forward = f", {applied - unapplied} applied" if applied > unapplied else ""
        return f", rolled back {unapplied}{forward}" + (f" to {current}" if current else "")
    return (f", {applied} applied" if applied else "") + at


def next_steps(steps: tuple[str, ...] | list[str]) -> str:
    """What a pending database runs next: `next billing.0004_x (+1 more)`."""
    more = f" (+{len(steps) - 1} more)" if len(steps) > 1 else ""
    return f"next {steps[0]}{more}" if steps else "-"


def summary_counts(report: MigrationReport, orm: str | None = None) -> str:
    """`6 migrated, 2 up to date, 1 failed` (zero counts left out)."""
    counts = report.counts(orm)
    parts = [f"{counts[str(s)]} {STATUS_WORDS[s]}" for s in Status if counts.get(str(s))]
    return ", ".join(parts) or "nothing to do"


def not_started_line(report: MigrationReport) -> str | None:
    """Databases the run stopped before, as a count (a stopped run of thousands lists none of them)."""
    count = report.counts()[str(Status.NOT_STARTED)]
    return f"Not started: {count} database(s) (--only-failed picks them up)." if count else None


def missing_line(report: MigrationReport) -> str | None:
    """Databases whose server says they do not exist: what to do about them."""
    count = report.counts()[str(Status.MISSING)]
    if not count:
        return None
    return (
        f"Missing: {count} database(s) do not exist on their server; nothing was done to them. "
        "Create them: `tenant-router migrate --create-missing` (or `tenant-router create TENANT...`)."
    )


def format_summary(report: MigrationReport) -> list[str]:
    """The closing lines: totals, per ORM, then every failure with its step and error."""
    total = len(report.results)
    lines = [f"Summary: {total} database(s) in {report.seconds:.2f}s: {summary_counts(report)}"]
    for orm in report.orms():
        lines.append(f"  {orm}: {summary_counts(report, orm)}")
    if report.stop_reason and not report.interrupted:
        lines.append(f"Stopped early: {report.stop_reason}")
    if report.interrupted:
        lines.append(INTERRUPTED_LINE)
    failures = report.failures
    if failures:
        lines.append(f"Failed ({len(failures)}):")
        for row in failures:
            at = f" at {row.failed_step}" if row.failed_step else ""
            lines.append(f"  {row.orm} {row.label}{at}: {row.error}")
    others = [r for r in report.problems if r.status not in (Status.FAILED, Status.NOT_STARTED)]
    if others:
        lines.append(f"Not completed ({len(others)}):")
        for row in others:
            word = STATUS_WORDS[row.status or Status.FAILED]
            lines.append(f"  {row.orm} {row.label}: {word}{where_left(row)}: {row.error}")
    lines += [line for line in (not_started_line(report), missing_line(report)) if line]
    return [printable(REDACTOR(line)) for line in lines]
