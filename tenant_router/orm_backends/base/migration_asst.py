"""BaseOrmMigrationAsst: how one ORM migrates its databases.

The contract, from most to least control:

* Override ``perform_migrate(self)`` (the seed's form) to take over the whole ORM. It is called once
  per run; ``self.manager`` knows the tenants and their settings, ``self.tenants()`` the tenants
  selected for this run. Rows, progress and failure isolation are then yours to report through
  ``self.report`` (or not: the run records one row for the ORM, ok or failed).
* Override ``migrate_tenant(self, tenant)`` to migrate one tenant; the default ``perform_migrate``
  calls it for each selected tenant with a row per tenant, failure isolation, fail-fast and (with
  ``--jobs``) parallelism handled for you.
* Override ``migrate_database(self, run, db_config)`` to migrate one database of one tenant (or a
  reserved database: ``run.tenant is None``); report steps with ``run.planned(...)``,
  ``run.step_started(...)``, ``run.step_applied(...)``.

What the class does is declared in ``capabilities`` (coarse, per tenant or per database; whether the
pre-flight can inspect its databases): the run reads the declaration, never guesses. A subclass that
declares none gets the default declaration, made once when the class is created from the hooks it
defines: ``perform_migrate`` makes it coarse, else ``migrate_tenant`` per tenant, and
``bookkeeping_read`` or ``inspect_database`` makes it inspect. So the seed's assistant, with only
``perform_migrate``, is coarse without saying so.

``OPTIONS.MIGRATION_ASST.OPTIONS`` from the settings arrive as keyword arguments of ``__init__``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from ...errors import UsageError
from ...preflight import BookkeepingRead, Inspection, read_many
from ...record.events import FAILED_OR_BUSY
from ...record.keys import DbKey
from ...record.orm_report import DatabaseRun, OrmReport
from ...record.report import MigrationReport
from ...safety.lockwait import StepLimits
from . import database_run
from .capabilities import Capabilities
from .manager import BaseOrmManager


class BaseOrmMigrationAsst:
    """Migrates every selected tenant database of one ORM; subclass and override one hook."""

    #: True when migrate_database() takes the run lock itself, with hold_run_lock() on the connection
    #: it migrates over (one connection fewer per database); else run_database() holds it on its own.
    LOCKS_ITS_OWN_CONNECTION: ClassVar[bool] = False
    #: How `current` reads for a database with nothing applied (Django's `migrate app zero`).
    NOTHING_APPLIED: ClassVar[str] = "zero"
    #: What the class does, read by the run through is_coarse(), is_per_tenant() and inspects(). Declare
    #: it in a subclass; one that does not gets the default declaration (__init_subclass__).
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """The default declaration, for a subclass that declares no `capabilities` of its own: made once,
        here, from the hooks the class defines (perform_migrate: coarse; else migrate_tenant: per tenant;
        bookkeeping_read or inspect_database: inspects)."""
        super().__init_subclass__(**kwargs)
        if "capabilities" in cls.__dict__:
            return

        def defines(hook: str) -> bool:  # the subclass (or a class between it and this one) defines it
            return getattr(cls, hook) is not getattr(BaseOrmMigrationAsst, hook)

        coarse = defines("perform_migrate")
        cls.capabilities = Capabilities(
            coarse=coarse,
            per_tenant=not coarse and defines("migrate_tenant"),
            inspects=defines("bookkeeping_read") or defines("inspect_database"),
        )

    def __init__(self, manager: BaseOrmManager, **options: Any) -> None:
        self._manager = manager
        self.options = options
        self.report: OrmReport = OrmReport(MigrationReport(), manager.orm_key)
        self._selection: Sequence[str] | None = None
        self.lock_timeout: float | None = None  # None: no run lock (library default)
        self.limits = StepLimits()  # --lock-wait, --statement-timeout: none unless the run sets them

    @property
    def manager(self) -> BaseOrmManager:
        """The manager of this assistant's ORM."""
        return self._manager

    def bind(
        self,
        report: OrmReport,
        tenants: Sequence[str] | None,
        *,
        lock_timeout: float | None = None,
        limits: StepLimits | None = None,
    ) -> None:
        """Attach the run's report, tenant selection, run-lock timeout and step limits (the engine calls this)."""
        self.report, self._selection, self.lock_timeout = report, tenants, lock_timeout
        self.limits = limits or StepLimits()

    def tenants(self) -> list[str]:
        """The tenants selected for this run, in configuration order."""
        return list(self._selection) if self._selection is not None else self.manager.tenant_ids()

    @classmethod
    def is_coarse(cls) -> bool:
        """True when the class takes over the whole ORM (declared: capabilities.coarse)."""
        return cls.capabilities.coarse

    @classmethod
    def is_per_tenant(cls) -> bool:
        """True when the class migrates whole tenants (declared: capabilities.per_tenant)."""
        return cls.capabilities.per_tenant

    @classmethod
    def inspects(cls) -> bool:
        """True when the pre-flight can read what its databases have pending (capabilities.inspects)."""
        return cls.capabilities.inspects

    # -- the hooks --------------------------------------------------------------------------
    def perform_migrate(self) -> None:
        """Migrate the reserved databases, then every selected tenant; one failure hides no other."""
        self.migrate_reserved()
        for tenant in self.tenants():
            if self.report.stopping:
                return
            with self.report.tenant(tenant):
                self.migrate_tenant(tenant)

    def migrate_reserved(self) -> None:
        """Migrate each reserved alias once; a failure stops the run before tenants are touched."""
        for alias in self.manager.reserved_aliases:
            if self.report.stopping:
                return
            self.run_database(None, alias, self.manager.reserved_db_config(alias))
            row = self.report.report.results.get(DbKey(self.manager.orm_key, None, alias))
            if row is not None and row.status in FAILED_OR_BUSY:
                self.report.report.stop(f"reserved database {alias!r} of {self.manager.orm_key} {row.status}")

    def migrate_tenant(self, tenant: str) -> None:
        """Migrate each of this tenant's databases (one per template alias)."""
        for alias in self.manager.template_aliases:
            if self.report.stopping:
                return
            db_config = self.manager.tenant_db_config(tenant, alias)
            if db_config is None:
                self.report.skipped(tenant, alias, f"no {self.manager.orm_key}.{alias} entry")
                continue
            self.run_database(tenant, alias, db_config)

    def run_database(self, tenant: str | None, alias: str, db_config: dict[str, Any]) -> None:
        """One database as a report row: run lock, migrate_database, outcome; errors stay in the row.

        A lost connection is retried at a boundary, a lock wait or statement timeout says what it left
        (database_run.py)."""
        database_run.run_database(self, tenant, alias, db_config)

    def step_rolled_back(self, step: str, db_config: dict[str, Any]) -> bool:
        """True when a step whose connection died mid-way left nothing behind (it ran in a transaction
        the server rolls back). The default cannot tell, so a step interrupted that way is not retried."""
        return False

    def read_position(
        self, tenant: str | None, alias: str, db_config: dict[str, Any], step: str | None = None
    ) -> Inspection | BaseException | None:
        """What the database holds now and still needs, read over a fresh connection (`current` is
        NOTHING_APPLIED when nothing is); the error when the read failed; None: this class cannot read.
        `step`: the step the run was in, if any (an ORM may name where that step's app stands)."""
        return position_of(self.bookkeeping_read(tenant or "", alias, db_config), self.NOTHING_APPLIED)

    @contextmanager
    def run_lock(self, tenant: str | None, alias: str, db_config: dict[str, Any]) -> Iterator[None]:
        """Hold the database's run lock (when the run asked for locks and the ORM can name the database)."""
        if self.LOCKS_ITS_OWN_CONNECTION:
            yield
            return
        with self.hold_run_lock(None, tenant, alias, db_config):
            yield

    @contextmanager
    def hold_run_lock(
        self, conn: Callable[[], Any] | None, tenant: str | None, alias: str, db_config: dict[str, Any]
    ) -> Iterator[None]:
        """Hold the database's run lock on the DB-API connection `conn()` opens (None: one of its own).

        Nothing when the run takes no locks or the ORM cannot name the database.
        """
        read = None if self.lock_timeout is None else self.bookkeeping_read(tenant or "", alias, db_config)
        with database_run.run_lock_held(read, self.lock_timeout, tenant, conn):
            yield

    def migrate_database(self, run: DatabaseRun, db_config: dict[str, Any]) -> None:
        """Bring one database to its latest migration, reporting through `run`."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must override perform_migrate(), migrate_tenant() "
            "or migrate_database()"
        )

    def set_target(self, target: tuple[str, ...]) -> None:
        """Aim this run at `target` (`--target ...`) instead of the latest migrations; may go backwards."""
        raise UsageError(f"{self.manager.orm_key}: {type(self).__qualname__} does not support --target.")

    def inspect_database(self, tenant: str, alias: str, db_config: dict[str, Any]) -> Inspection | None:
        """Pre-flight: read what is pending over one light connection; None when it cannot tell.

        Raising means the database is unreachable: it is reported failed without migrating.
        """
        return None

    def bookkeeping_read(self, tenant: str, alias: str, db_config: dict[str, Any]) -> BookkeepingRead | None:
        """Pre-flight as a plain query, so databases shared with other ORMs are read over one connection.

        None (the default) falls back to inspect_database().
        """
        return None

    def scratch_config(
        self, db_config: dict[str, Any], name: str | None, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        """Drift: `db_config` naming database `name` (None: the same one), with the connection overrides
        of TENANT_ROUTER_DRIFT_SCRATCH (USER, PASSWORD, HOST, PORT). Not overridden: drift says unknown."""
        raise NotImplementedError(f"{type(self).__qualname__} cannot build scratch databases")

    def migrate_scratch(
        self, db_config: dict[str, Any], alias: str, reserved: bool, applied: tuple[tuple[str, ...], ...]
    ) -> None:
        """Drift: migrate the empty scratch database `db_config` to exactly `applied` (bookkeeping rows);
        UnknownStateError when no plan leads there."""
        raise NotImplementedError(f"{type(self).__qualname__} cannot build expected schemas")

    def schema_digest(self) -> str | None:
        """A digest of what decides what a database holds at head (the contents of the migration files,
        versions, the options that decide the schema; never file times or paths): the key of template
        databases, and the Celery code check (a worker whose digest differs refuses the run). None (the
        default): new databases are migrated, not copied, and workers are not compared."""
        return None

    def build_template(self, db_config: dict[str, Any], alias: str) -> None:
        """Provisioning: migrate the empty database `db_config` to head as `migrate` would under `alias`,
        with no tenant bound (post_migrate included)."""
        raise NotImplementedError(f"{type(self).__qualname__} cannot build template databases")

    def prepare(self) -> None:
        """Load what does not depend on the tenant (migration graphs) once, before workers fork."""

    def close(self) -> None:
        """Release what the assistant holds between databases (called at the end of a run)."""

    def planned_databases(self) -> list[tuple[str | None, str | None]]:
        """(tenant, alias) of every database this run expects to visit, for counters and bookkeeping."""
        if self.is_coarse():
            return [(None, None)]
        units: list[tuple[str | None, str | None]] = [(None, a) for a in self.manager.reserved_aliases]
        if self.is_per_tenant():
            return units + [(t, None) for t in self.tenants()]
        return units + [(t, a) for t in self.tenants() for a in self.manager.template_aliases]


def position_of(read: BookkeepingRead | None, nothing_applied: str) -> Inspection | BaseException | None:
    """`read` done over a fresh connection, `current` spelled `nothing_applied` when nothing is; the
    read's error; None when there is nothing to read with."""
    if read is None:
        return None
    (found,) = read_many([read])
    if isinstance(found, BaseException):
        return found
    return dataclasses.replace(found, current=found.current or nothing_applied)
