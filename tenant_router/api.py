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

import threading
from collections.abc import Callable, Sequence

from .config.loader import load_config
from .config.model import RouterConfig
from .drift.report import DriftReport
from .errors import ProvisionError, SelectionError
from .executors import ExecutorSpec
from .record.events import MigrationEvent
from .record.report import MigrationReport, _ignore
from .run.drift import read_drift
from .run.engine import migrate
from .run.requests import JournalSpec, RunPolicy, Selection
from .run.status import FleetStatus, read_status
from .run.templates import TemplateInventory, read_templates

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


_PROVISIONING = threading.Lock()  # Django's migration machinery is per process: one provisioning at a time


def provision_tenants(
    config: RouterConfig | None = None,
    selection: Selection = _EVERYTHING,
    *,
    wait: float = 30.0,
    on_event: Callable[[MigrationEvent], None] = _ignore,
) -> MigrationReport:
    """Create the selected tenant databases that do not exist (as each tenant's own role) and bring them
    to head in this process; every database that exists is left as it is (`create`).

    Safe to call from several threads (a signup view): calls of one process take turns, and one that
    waited `wait` seconds for another raises ProvisionError without touching anything. A new database
    whose migration does not complete is dropped again; the report's rows say so.
    """
    if not _PROVISIONING.acquire(timeout=wait):
        raise ProvisionError(
            f"another provisioning call in this process did not finish within {wait:g} s; nothing was done.",
            hint="Try again, or provision from a worker (tenant-router create).",
        )
    try:
        policy = RunPolicy(create_missing=True, only_missing=True)
        return migrate(config, selection, policy, _IN_PROCESS, None, on_event)
    finally:
        _PROVISIONING.release()


def provision_tenant(
    tenant: str, config: RouterConfig | None = None, *, wait: float = 30.0
) -> MigrationReport:
    """provision_tenants() for the one tenant `tenant` (its id taken literally, never as a pattern); a
    tenant the configuration does not have is a SelectionError (add it first)."""
    config = config or load_config()
    if tenant not in config.tenant_config.tenants:
        raise SelectionError(
            f"Unknown tenant {tenant[:60]!r}: {config.tenant_config.source} does not have it.",
            hint="Add the tenant to the tenant configuration first, then provision it.",
        )
    return provision_tenants(config, Selection(only_tenants=(tenant,)), wait=wait)


def list_templates(
    config: RouterConfig | None = None, selection: Selection = _EVERYTHING, *, prune: bool = False
) -> TemplateInventory:
    """The template databases on the selected tenants' servers, current or stale; with `prune`, the
    stale ones dropped (`tenant-router templates [--prune]`)."""
    return read_templates(config, selection, prune=prune)
