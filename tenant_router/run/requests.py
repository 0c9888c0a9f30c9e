"""What a caller asks of a run, as frozen request objects: which databases, under which rules, where written.

The CLI builds these from its options; a Python caller builds them directly (see `tenant_router.api`):

    migrate_tenants(config, Selection(tenants=("acme-*",)), RunPolicy(locks=LockPolicy(wait=3)))

Each checks its own values (a UsageError naming the option) before anything is touched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.model import OrmSpec, RouterConfig
from ..errors import UsageError
from ..record.journal import RunRecord
from ..record.keys import DbKey
from ..record.unfinished import Unfinished, unfinished
from ..safety.lockwait import StepLimits
from .requeue import DEFAULT_LOCK_RETRIES, DEFAULT_LOCK_RETRY_DELAY, RetryPolicy
from .selection import select_tenants


@dataclass(frozen=True)
class Selection:
    """Which databases a run visits: ORMs, tenants (ids, globs, @file), exclusions, a shard; and, for
    `--only-failed`, exactly the databases of an earlier run that did not finish."""

    orms: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()  # exact ids first, then globs; @FILE reads them from a file
    exclude: tuple[str, ...] = ()
    shard: str | None = None  # "I/N"
    only_tenants: tuple[str, ...] | None = None  # of those, only these (an earlier run's unfinished)
    databases: frozenset[DbKey] | None = None  # and of their databases only these

    @classmethod
    def from_journal(cls, run: RunRecord, within: Selection | None = None) -> Selection:
        """`within`, narrowed to the databases `run` did not bring to an end (`--only-failed`)."""
        redo = run.databases_to_redo()
        base = within or cls()
        return cls(
            base.orms,
            base.tenants,
            base.exclude,
            base.shard,
            tuple(run.tenants_to_redo()),
            None if redo is None else frozenset(redo),
        )

    @classmethod
    def only_failed(
        cls, folder: Path, run_id: str | None = None, within: Selection | None = None
    ) -> Selection:
        """`within`, narrowed to the databases whose latest outcome in the journal `folder` is not an
        end (or that the run `run_id` did not bring to an end): see `unfinished()`."""
        return cls.from_unfinished(unfinished(folder, run_id), within)

    @classmethod
    def from_unfinished(cls, left: Unfinished, within: Selection | None = None) -> Selection:
        """`within`, narrowed to the databases of `left` (what `--only-failed` redoes)."""
        base = within or cls()
        return cls(base.orms, base.tenants, base.exclude, base.shard, left.tenants, left.databases)

    def resolve(self, config: RouterConfig) -> tuple[list[OrmSpec], list[str]]:
        """The selected ORM specs and tenant ids, in configuration order (SelectionError, UsageError)."""
        specs = config.orms(self.orms)
        tenants = select_tenants(config.tenant_ids(), self.tenants, self.exclude, self.shard)
        if self.only_tenants is not None:
            only = set(self.only_tenants)
            tenants = [t for t in tenants if t in only]
        if self.databases is not None:  # the databases of the last run that did not finish, no other
            redo = {key.tenant for key in self.databases}  # a set: 10,000 tenants is not 10**8 checks
            tenants = [t for t in tenants if t in redo]
        return specs, tenants


@dataclass(frozen=True)
class LockPolicy:
    """How a run treats locks: another run's (`timeout`) and a live tenant's table locks (the rest)."""

    timeout: float | None = None  # --lock-timeout: wait this long for a database another run holds
    wait: float | None = None  # --lock-wait: a step's longest wait for a table lock, then busy
    retries: int | None = None  # --lock-retries (default 3 with --lock-wait)
    retry_delay: float | None = None  # --lock-retry-delay (default 5 s, doubled for each next retry)
    statement_timeout: float | None = None  # --statement-timeout

    def check(self) -> tuple[StepLimits, RetryPolicy]:
        """The step limits and the busy databases' retry policy (UsageError for a bad value)."""
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout >= 0):
            raise UsageError(
                f"--lock-timeout must be a finite number of seconds, 0 or more, got {self.timeout:g}."
            )
        for name, value in (("--lock-wait", self.wait), ("--statement-timeout", self.statement_timeout)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise UsageError(f"{name} must be a finite number of seconds above 0, got {value:g}.")
        delay = self.retry_delay
        if delay is not None and not (math.isfinite(delay) and delay >= 0):
            raise UsageError(
                f"--lock-retry-delay must be a finite number of seconds, 0 or more, got {delay:g}."
            )
        if self.retries is not None and self.retries < 0:
            raise UsageError(f"--lock-retries must be 0 or more, got {self.retries}.")
        if self.wait is None and (self.retries is not None or delay is not None):
            raise UsageError(
                "--lock-retries and --lock-retry-delay need --lock-wait.",
                hint="For example --lock-wait 3 --lock-retries 5: a step waits at most 3 s for a lock.",
            )
        policy = RetryPolicy(
            DEFAULT_LOCK_RETRIES if self.retries is None else self.retries,
            DEFAULT_LOCK_RETRY_DELAY if delay is None else delay,
        )
        return StepLimits(self.wait, self.statement_timeout), policy


@dataclass(frozen=True)
class RunPolicy:
    """The rules of a migrate run: when to stop, what to aim at, what to refuse, how to treat locks."""

    fail_fast: bool = False  # stop at the first failure
    max_failures: int | None = None  # start no new database after this many failures
    canary: int = 0  # migrate this many tenants first; stop if one fails or stays busy
    target: tuple[str, ...] = ()  # ("APP_LABEL", "MIGRATION") for Django, ("REV",) for Alembic; one ORM
    refuse_drift: bool = False  # leave pending databases whose schema drifted alone
    locks: LockPolicy = field(default_factory=LockPolicy)
    create_missing: bool = False  # create the tenant databases that do not exist, then migrate them
    only_missing: bool = False  # `create`: leave every database that exists as it is
    template: bool = True  # create missing databases as verified copies of a template at head

    def check(self, max_per_host: int | None = None) -> tuple[StepLimits, RetryPolicy]:
        """Reject a value out of range (UsageError); the step limits and retry policy of `locks`."""
        if self.only_missing and not self.create_missing:
            raise UsageError("RunPolicy(only_missing=True) needs create_missing=True.")
        if self.create_missing and self.target:
            raise UsageError("--create-missing cannot be used with --target: a new database goes to head.")
        for name, value, least in (
            ("--canary", self.canary, 0),
            ("--max-failures", self.max_failures, 1),
            ("--max-connections-per-host", max_per_host, 1),
        ):
            if value is not None and value < least:
                raise UsageError(f"{name} must be at least {least}, got {value}.")
        return self.locks.check()


@dataclass(frozen=True)
class JournalSpec:
    """Where a run writes its journal (one JSON Lines file per run), and what its header also records."""

    folder: Path
    meta: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"argv": [...]}
    exit_code_follows: bool = False  # the footer waits for report.journal.note_exit(code)
