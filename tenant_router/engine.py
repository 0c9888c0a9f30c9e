"""The run: reserved databases, a pre-flight of every tenant database, then the pending ones, in parallel.

Phases, each finished before the next starts:
1. coarse assistants (those overriding perform_migrate) run as they are, and every reserved database is
   migrated, in TENANT_ROUTER_ORM_SETTINGS order, in this process; a reserved failure stops the run;
2. pre-flight: each (ORM, tenant, alias) database's bookkeeping table is read and compared with the
   migration graph; up-to-date and unreachable databases are settled here;
3. the pending databases are migrated, one ORM after the other (a tenant's ORMs keep their order),
   on `jobs` worker processes (1: in this process).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence

from .config import OrmSpec, RouterConfig, load_config
from .errors import ConfigurationError, TenantRouterError, UsageError
from .events import MigrationEvent, RunStarted
from .orm_backends.base import BaseOrmMigrationAsst
from .report import MigrationReport, _ignore
from .selection import select_tenants
from .tasks import Assistants, DbKey, Task
from .workers import DEFAULT_MAX_RSS_MB, DEFAULT_TASKS_PER_WORKER, InProcessRunner, ProcessRunner

INSPECT_BATCH = 25  # databases per pre-flight task: few messages, still spread over the workers


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


def resolve_jobs(jobs: int | None) -> int:
    """`jobs` or, for None/0, the number of CPUs."""
    if jobs is not None and jobs < 0:
        raise UsageError(f"--jobs must be 0 (all CPUs) or more, got {jobs}.")
    return jobs or os.cpu_count() or 1


def migrate_tenants(
    config: RouterConfig | None = None,
    *,
    orm: Sequence[str] = (),
    tenant: Sequence[str] = (),
    exclude: Sequence[str] = (),
    fail_fast: bool = False,
    jobs: int | None = 1,
    max_connections_per_host: int | None = None,
    worker_tasks: int = DEFAULT_TASKS_PER_WORKER,
    worker_max_rss_mb: float = DEFAULT_MAX_RSS_MB,
    on_event: Callable[[MigrationEvent], None] = _ignore,
) -> MigrationReport:
    """Bring every selected tenant database to its latest migration; a tenant's failure is data."""
    config = config or load_config()
    specs = config.orms(orm)
    tenants = select_tenants(config.tenant_ids(), tenant, exclude)
    jobs = resolve_jobs(jobs)
    if max_connections_per_host is not None and max_connections_per_host < 1:
        raise UsageError("--max-connections-per-host must be at least 1.")
    report = MigrationReport(on_event, fail_fast=fail_fast)
    assistants = Assistants(config, {spec.key: build_assistant(spec, config) for spec in specs})
    planned: list[tuple[str, str | None, str | None]] = []
    for spec in specs:
        asst = assistants.get(spec.key)
        asst.bind(report.for_orm(spec.key), tenants)
        planned += [(spec.key, t, a) for t, a in asst.planned_databases()]
    report.emit(RunStarted(len(planned), tuple(s.key for s in specs)))
    runner: InProcessRunner | ProcessRunner | None = None
    try:
        _migrate_reserved_and_coarse(specs, assistants, report)
        databases = list(_tenant_units(specs, assistants, tenants, report))
        if databases and not report.stopping:
            for spec in specs:
                assistants.get(spec.key).prepare()  # workers fork with the graphs already loaded
            runner = (
                InProcessRunner(assistants, report)
                if jobs == 1
                else ProcessRunner(
                    assistants,
                    report,
                    jobs,
                    max_per_host=max_connections_per_host,
                    tasks_per_worker=worker_tasks,
                    max_rss_mb=worker_max_rss_mb,
                )
            )
            _preflight_and_migrate(specs, assistants, runner, databases)
    except KeyboardInterrupt:
        report.interrupted = True
        report.stop("interrupted")
    finally:
        if runner is not None:
            runner.close()
        assistants.close()
    _mark_not_started(report, planned)
    report.seconds = time.monotonic() - report.started
    if report.interrupted:
        raise RunInterrupted(report)
    return report


def _migrate_reserved_and_coarse(
    specs: list[OrmSpec], assistants: Assistants, report: MigrationReport
) -> None:
    """Phase 1, in this process and in ORM order."""
    for spec in specs:
        if report.stopping:
            return
        asst = assistants.get(spec.key)
        if asst.is_coarse():
            with report.for_orm(spec.key).tenant(None):  # one row for the ORM if it reports none
                asst.perform_migrate()
        else:
            asst.migrate_reserved()


def _tenant_units(
    specs: list[OrmSpec], assistants: Assistants, tenants: list[str], report: MigrationReport
) -> Iterator[DbKey]:
    """(orm, tenant, alias) of every configured tenant database; the unconfigured are skipped."""
    for spec in specs:
        asst = assistants.get(spec.key)
        if asst.is_coarse():
            continue
        if asst.is_per_tenant():
            yield from ((spec.key, t, None) for t in tenants)
            continue
        for t in tenants:
            for alias in asst.manager.template_aliases:
                if asst.manager.tenant_db_config(t, alias) is None:
                    report.for_orm(spec.key).skipped(t, alias, f"no {spec.key}.{alias} entry")
                else:
                    yield spec.key, t, alias


def _host(assistants: Assistants, key: DbKey) -> str | None:
    orm, tenant, alias = key
    if alias is None:
        return None
    manager = assistants.get(orm).manager
    db_config = manager.tenant_db_config(tenant, alias)
    return manager.host_key(db_config) if db_config is not None else None


def _inspectable(asst: BaseOrmMigrationAsst) -> bool:
    base = BaseOrmMigrationAsst
    return (
        type(asst).bookkeeping_read is not base.bookkeeping_read
        or type(asst).inspect_database is not base.inspect_database
    )


def _preflight_and_migrate(
    specs: list[OrmSpec],
    assistants: Assistants,
    runner: InProcessRunner | ProcessRunner,
    databases: list[DbKey],
) -> None:
    """Phases 2 and 3."""
    ids = iter(range(1, 10**9))
    inspectable = {s.key for s in specs if _inspectable(assistants.get(s.key))}
    by_tenant: dict[tuple[str, str | None], list[DbKey]] = {}  # every ORM of a tenant in one task
    for key in databases:
        if key[0] in inspectable and key[2] is not None:
            by_tenant.setdefault((key[1], _host(assistants, key)), []).append(key)
    groups = list(by_tenant.items())
    inspect_tasks = [
        Task(next(ids), "inspect", tuple(k for _, keys in batch for k in keys), batch[0][0][1])
        for batch in (groups[i : i + INSPECT_BATCH] for i in range(0, len(groups), INSPECT_BATCH))
    ]
    pending = set(runner.run(inspect_tasks))
    for spec in specs:  # one ORM at a time, so each tenant's ORMs are migrated in settings order
        keys = [k for k in databases if k[0] == spec.key and (k[0] not in inspectable or k in pending)]
        runner.run(Task(next(ids), "migrate", (k,), _host(assistants, k)) for k in keys)


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
