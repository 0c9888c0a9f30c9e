"""The library twins of the commands: each takes the configuration and a few frozen request objects.

    from tenant_router import LockPolicy, RunPolicy, Selection, migrate_tenants

    report = migrate_tenants(
        selection=Selection(orms=("django_orm",), tenants=("acme-*",)),
        policy=RunPolicy(fail_fast=True, locks=LockPolicy(wait=3)),
    )

`config` None reads Django's settings (setting Django up first in a plain script). A database's failure is
data in the returned report, never an exception; configuration and usage problems raise a
TenantRouterError before any database is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .config.model import RouterConfig
from .drift.report import DriftReport
from .executors import ExecutorSpec
from .record.events import MigrationEvent
from .record.report import MigrationReport, _ignore
from .run.drift import read_drift
from .run.engine import migrate
from .run.requests import JournalSpec, RunPolicy, Selection
from .run.status import FleetStatus, read_status

_EVERYTHING = Selection()
_DEFAULT_POLICY = RunPolicy()
_IN_PROCESS = ExecutorSpec()


def migrate_tenants(
    config: RouterConfig | None = None,
    selection: Selection = _EVERYTHING,
    policy: RunPolicy = _DEFAULT_POLICY,
    *,
    executor: ExecutorSpec = _IN_PROCESS,
    journal: JournalSpec | None = None,
    on_event: Callable[[MigrationEvent], None] = _ignore,
) -> MigrationReport:
    """Bring every selected tenant database to its latest migration (or `policy.target`); a failure is data.

    Raises RunInterrupted (Ctrl-C, request_stop()) and RunAborted (the executor was lost), each with the
    report of what finished.
    """
    return migrate(config, selection, policy, executor, journal, on_event)


def fleet_status(
    config: RouterConfig | None = None,
    selection: Selection = _EVERYTHING,
    *,
    target: Sequence[str] = (),
    executor: ExecutorSpec = _IN_PROCESS,
) -> FleetStatus:
    """Read every selected database's bookkeeping and say what a migrate run would do; touch nothing."""
    return read_status(config, selection, tuple(target), executor)


def detect_drift(
    config: RouterConfig | None = None,
    selection: Selection = _EVERYTHING,
    *,
    strict: bool = False,
    executor: ExecutorSpec = _IN_PROCESS,
) -> DriftReport:
    """Compare every selected database's real schema with the one its applied migrations promise."""
    return read_drift(config, selection, strict, executor)
