"""The run: every selected ORM's assistant, one after the other, folded into a MigrationReport."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from .config import OrmSpec, RouterConfig, load_config
from .errors import ConfigurationError, TenantRouterError
from .events import MigrationEvent, RunStarted
from .orm_backends.base import BaseOrmMigrationAsst
from .report import MigrationReport, _ignore
from .selection import select_tenants


class RunInterrupted(TenantRouterError):
    """The run was interrupted (Ctrl-C); `report` says what finished and what never started."""

    def __init__(self, report: MigrationReport) -> None:
        super().__init__("Interrupted: no new tenant was started.")
        self.report = report


def build_assistant(spec: OrmSpec, config: RouterConfig) -> BaseOrmMigrationAsst:
    """Instantiate an ORM's assistant with its manager and OPTIONS kwargs."""
    manager = config.manager(spec.key)
    try:
        return spec.asst_class(manager, **spec.asst_options)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"TENANT_ROUTER_ORM_SETTINGS[{spec.key!r}]['OPTIONS']['MIGRATION_ASST']: "
            f"{spec.asst_path} does not accept its OPTIONS: {exc}.",
            check_id="E004",
        ) from exc


def migrate_tenants(
    config: RouterConfig | None = None,
    *,
    orm: Sequence[str] = (),
    tenant: Sequence[str] = (),
    exclude: Sequence[str] = (),
    fail_fast: bool = False,
    on_event: Callable[[MigrationEvent], None] = _ignore,
) -> MigrationReport:
    """Bring every selected tenant database to its latest migration; a tenant's failure is data."""
    config = config or load_config()
    specs = config.orms(orm)
    tenants = select_tenants(config.tenant_ids(), tenant, exclude)
    report = MigrationReport(on_event, fail_fast=fail_fast)
    assistants = [build_assistant(spec, config) for spec in specs]
    planned: list[tuple[str, str | None, str | None]] = []
    for spec, asst in zip(specs, assistants, strict=True):
        asst.bind(report.for_orm(spec.key), tenants)
        planned += [(spec.key, t, a) for t, a in asst.planned_databases()]
    report.emit(RunStarted(len(planned), tuple(s.key for s in specs)))
    try:
        for spec, asst in zip(specs, assistants, strict=True):
            if report.stopping:
                break
            # A coarse assistant that reports no rows gets one row for the whole ORM.
            with report.for_orm(spec.key).tenant(None, placeholder=asst.is_coarse()):
                asst.perform_migrate()
    except KeyboardInterrupt:
        report.interrupted = True
        report.stop("interrupted")
    finally:
        for spec in specs:
            config.manager(spec.key).close()
    _mark_not_started(report, planned)
    report.seconds = time.monotonic() - report.started
    if report.interrupted:
        raise RunInterrupted(report)
    return report


def _mark_not_started(report: MigrationReport, planned: list[tuple[str, str | None, str | None]]) -> None:
    """Every planned database the run never reached gets a NOT_STARTED row."""
    reason = report.stop_reason or "not reached"
    seen_orms = {r.orm for r in report.rows()}
    for orm, tenant, alias in planned:
        if (orm, tenant, alias) in report.results:
            continue
        if tenant is None and alias is None and orm in seen_orms:
            continue  # a coarse assistant that reported rows of its own
        if alias is None and any(r.orm == orm and r.tenant == tenant for r in report.rows()):
            continue
        report.for_orm(orm).not_started(tenant, alias, reason)
