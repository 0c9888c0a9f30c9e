"""Frozen facts a migration run emits, in order; the report is a fold over them.

`tenant` is None for a reserved (shared) database, `alias` is None for a row that stands for a whole
tenant (or a whole ORM) when a custom assistant reports no finer rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar


class Status(StrEnum):
    """Where one database ended up."""

    MIGRATED = "migrated"
    UP_TO_DATE = "up_to_date"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_STARTED = "not_started"
    LOCKED = "locked"  # another run held the database: nothing was done to it
    INTERRUPTED = "interrupted"  # stopped at a migration boundary by Ctrl-C / SIGTERM
    BUSY = "busy"  # a step never got its table lock within --lock-wait: left at its last good boundary
    DRIFTED = "drifted"  # `--refuse-drift`: its schema differs from its migrations; nothing was done to it
    MISSING = "missing"  # the server says the database does not exist: nothing was done to it
    CREATED = "created"  # it did not exist: created as a verified copy of a template at head
    UNKNOWN = (
        "unknown"  # the run lost sight of it mid-way (broker or worker gone): `status` reads where it is
    )


#: Tried and not brought to its target: an error, a lock it never got, or an outcome the run lost sight
#: of (what stops a run after a reserved database or a canary, and what migrate_to_all() raises for).
FAILED_OR_BUSY = frozenset({Status.FAILED, Status.BUSY, Status.UNKNOWN})


@dataclass(frozen=True, slots=True)
class RunStarted:
    kind: ClassVar[str] = "run_started"
    planned: int  # databases the run expects to visit (an estimate for custom assistants)
    orms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TenantStarted:
    kind: ClassVar[str] = "tenant_started"
    orm: str
    tenant: str | None
    alias: str | None
    worker: str | None = None  # which worker ran it ("pid 4242", a Celery hostname); None: the run's process


@dataclass(frozen=True, slots=True)
class TenantPlanned:
    kind: ClassVar[str] = "tenant_planned"
    orm: str
    tenant: str | None
    alias: str | None
    steps: tuple[str, ...]  # what will be applied, in order
    current: str | None  # the latest step already applied before this run


@dataclass(frozen=True, slots=True)
class StepStarted:
    kind: ClassVar[str] = "step_started"
    orm: str
    tenant: str | None
    alias: str | None
    step: str  # "shop.0003_order_index" or an Alembic revision id


@dataclass(frozen=True, slots=True)
class StepApplied:
    kind: ClassVar[str] = "step_applied"
    orm: str
    tenant: str | None
    alias: str | None
    step: str
    seconds: float


@dataclass(frozen=True, slots=True)
class TenantFinished:
    kind: ClassVar[str] = "tenant_finished"
    orm: str
    tenant: str | None
    alias: str | None
    status: Status  # MIGRATED, UP_TO_DATE or CREATED
    applied: int
    current: str | None
    seconds: float
    note: str | None = None  # e.g. which template a created database was copied from


@dataclass(frozen=True, slots=True)
class TenantFailed:
    kind: ClassVar[str] = "tenant_failed"
    orm: str
    tenant: str | None
    alias: str | None
    error: str  # one line, passwords masked
    step: str | None  # the step that failed, when one was running
    seconds: float
    traceback: str | None = field(default=None, repr=False)
    status: Status = Status.FAILED  # or LOCKED, INTERRUPTED, BUSY, DRIFTED, MISSING, UNKNOWN
    current: str | None = None  # where the database was found after the failure (re-read); None: unknown
    undone: tuple[str, ...] = ()  # steps reported applied that the re-read found undone (rolled back)
    unknown: bool = False  # it had started, and could not be read afterwards: what it holds is unknown


@dataclass(frozen=True, slots=True)
class TenantSkipped:
    kind: ClassVar[str] = "tenant_skipped"
    orm: str
    tenant: str | None
    alias: str | None
    reason: str
    status: Status = Status.SKIPPED  # or NOT_STARTED after --fail-fast or a reserved failure


@dataclass(frozen=True, slots=True)
class TenantRetried:
    """A connection-level error (server restarting, connection killed) at a database boundary: the
    database is tried again after `delay` seconds, starting from where a fresh read finds it."""

    kind: ClassVar[str] = "tenant_retried"
    orm: str
    tenant: str | None
    alias: str | None
    error: str  # one line, passwords masked
    attempt: int  # the attempt about to start (2 = the first retry)
    delay: float


@dataclass(frozen=True, slots=True)
class TenantBusy:
    """A step gave up waiting for a lock (--lock-wait) and the database was left at a boundary, `current`;
    not an outcome yet: the run requeues it (TenantRequeued) or settles it busy (TenantFailed)."""

    kind: ClassVar[str] = "tenant_busy"
    orm: str
    tenant: str | None
    alias: str | None
    error: str  # one line: the step, what was left of it, the driver's error
    step: str | None
    current: str | None  # where a fresh read found the database
    seconds: float
    undone: tuple[str, ...] = ()  # steps reported applied that the fresh read found rolled back


@dataclass(frozen=True, slots=True)
class TenantRequeued:
    """A busy database went to the back of the queue: retry `attempt` of `retries` after `delay` seconds."""

    kind: ClassVar[str] = "tenant_requeued"
    orm: str
    tenant: str | None
    alias: str | None
    error: str
    attempt: int  # 1 = the first retry
    retries: int
    delay: float


@dataclass(frozen=True, slots=True)
class TenantNoted:
    """News about one database that is not an outcome: e.g. it could not be copied from its template
    and is migrated instead."""

    kind: ClassVar[str] = "tenant_noted"
    orm: str
    tenant: str | None
    alias: str | None
    note: str


@dataclass(frozen=True, slots=True)
class OutputLogged:
    """A log record, print() or warning of code the run carried out (a migration, env.py, a library), in
    this process or a worker: routed through the run instead of the terminal. `orm`, `tenant` and
    `alias` name the database it was written for; all three None when it came outside any database."""

    kind: ClassVar[str] = "output_logged"
    orm: str | None
    tenant: str | None
    alias: str | None
    level: str  # "INFO", "WARNING", ...: the record's level; INFO for stdout, WARNING for stderr
    logger: str  # the record's logger name; "stdout", "stderr" or "py.warnings" for other writes
    message: str  # passwords masked; may hold several lines (a traceback)


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """A worker died (a forked process) or stopped beating (a Celery worker) while it held a task; the
    databases it had not finished are failed right after (TenantFailed). About the run, not one database."""

    kind: ClassVar[str] = "worker_lost"
    worker: str  # "pid 4242" or the Celery worker's name
    error: str  # one line: how it ended


MigrationEvent = (
    RunStarted
    | WorkerLost
    | TenantStarted
    | TenantPlanned
    | StepStarted
    | StepApplied
    | TenantFinished
    | TenantFailed
    | TenantSkipped
    | TenantRetried
    | TenantBusy
    | TenantRequeued
    | TenantNoted
    | OutputLogged
)


#: Events about the whole run rather than one database (they have no orm, tenant or alias).
RUN_EVENTS = (RunStarted, WorkerLost)
#: Events that settle one database's outcome.
FINAL_EVENTS = (TenantFinished, TenantFailed, TenantSkipped)
#: Events after which whoever carried a database out has nothing more to say about it (a busy one is
#: the run's to requeue or settle): an executor must not fail it afterwards.
DONE_EVENTS = (*FINAL_EVENTS, TenantBusy)


def event_to_dict(event: MigrationEvent) -> dict[str, Any]:
    """A JSON-ready dict of `event`, with its kind under "event"."""
    data = asdict(event)
    data.pop("traceback", None)
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
        elif isinstance(value, float):
            data[key] = round(value, 4)
    return {"event": event.kind, **data}
