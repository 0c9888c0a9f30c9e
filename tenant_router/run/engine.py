"""The run: reserved databases, a pre-flight of every tenant database, then the pending ones, in parallel.

Phases, each finished before the next starts:
1. coarse assistants (those overriding perform_migrate) run as they are, and every reserved database is
   migrated, in TENANT_ROUTER_ORM_SETTINGS order, in this process; a reserved failure stops the run;
2. pre-flight: each (ORM, tenant, alias) database's bookkeeping table is read and compared with the
   migration graph; up-to-date and unreachable databases are settled here;
3. the pending databases are migrated, one ORM after the other (a tenant's ORMs keep their order),
   by the run's executor (`executors/`: forked worker processes, this process, or Celery workers).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..config.loader import load_config
from ..config.model import OrmSpec, RouterConfig
from ..errors import ExecutorError, ScratchDatabaseError, TenantRouterError, UsageError
from ..executors import (
    DEFAULT_MAX_RSS_MB,
    DEFAULT_TASKS_PER_WORKER,
    Executor,
    ExecutorSpec,
    make_executor,
    open_early,
)
from ..executors.tasks import Task, batched
from ..orm_backends.assistants import Assistants, AssistantSetup
from ..orm_backends.base import BaseOrmMigrationAsst
from ..preflight import Inspection, Unreachable, Verdict
from ..record.events import FAILED_OR_BUSY, MigrationEvent, RunStarted, Status
from ..record.journal import Journal, header_for
from ..record.keys import DbKey
from ..record.report import MigrationReport, _ignore
from ..safety import cancel
from .requeue import Requeue, step_limits
from .selection import select_tenants


class RunInterrupted(TenantRouterError):
    """The run was interrupted (Ctrl-C); `report` says what finished and what never started."""

    def __init__(self, report: MigrationReport) -> None:
        super().__init__(
            "Interrupted: no new database was started; running ones stopped at a migration boundary."
        )
        self.report = report


class RunAborted(TenantRouterError):
    """The run could not go on after it had begun (the executor was lost, `--refuse-drift` could not make
    its scratch database): `error` says why, `report` what finished before it stopped."""

    def __init__(self, error: TenantRouterError, report: MigrationReport) -> None:
        super().__init__(error.message, hint=error.hint)
        self.error, self.report = error, report


def migrate_tenants(
    config: RouterConfig | None = None,
    *,
    orm: Sequence[str] = (),
    tenant: Sequence[str] = (),
    exclude: Sequence[str] = (),
    shard: str | None = None,
    only: Sequence[str] | None = None,
    only_databases: Collection[DbKey] | None = None,
    canary: int = 0,
    fail_fast: bool = False,
    max_failures: int | None = None,
    target: Sequence[str] = (),
    jobs: int | None = 1,
    max_connections_per_host: int | None = None,
    lock_timeout: float | None = None,
    lock_wait: float | None = None,
    lock_retries: int | None = None,
    lock_retry_delay: float | None = None,
    statement_timeout: float | None = None,
    worker_tasks: int = DEFAULT_TASKS_PER_WORKER,
    worker_max_rss_mb: float = DEFAULT_MAX_RSS_MB,
    executor: str = "processes",
    celery_app: str | None = None,
    queue: str | None = None,
    journal_dir: str | Path | None = None,
    journal_meta: dict[str, Any] | None = None,
    refuse_drift: bool = False,
    on_event: Callable[[MigrationEvent], None] = _ignore,
) -> MigrationReport:
    """Bring every selected tenant database to its latest migration (or `target`); a failure is data."""
    config = config or load_config()
    specs = config.orms(orm)
    tenants = select_tenants(config.tenant_ids(), tenant, exclude, shard)
    if only is not None:
        tenants = [t for t in tenants if t in set(only)]
    redo = None if only_databases is None else {DbKey(*key) for key in only_databases}
    if redo is not None:  # --only-failed: the databases of the last run that did not finish, no other
        tenants = [t for t in tenants if any(key.tenant == t for key in redo)]
    options = ExecutorSpec(
        executor, jobs, max_connections_per_host, worker_tasks, worker_max_rss_mb, celery_app, queue
    )
    options.check()
    _check_limits(canary, max_failures, max_connections_per_host, lock_timeout)
    limits, policy = step_limits(lock_wait, lock_retries, lock_retry_delay, statement_timeout)
    cancel.reset()
    requeue = Requeue(policy, on_event)
    report = MigrationReport(requeue, fail_fast=fail_fast, max_failures=max_failures)
    requeue.report = report
    setup = AssistantSetup(tuple(target), lock_timeout, limits.lock_wait, limits.statement_timeout)
    assistants = Assistants.for_run(
        config, specs, setup, report, tenants, keep_settings=options.name != "celery"
    )  # Celery: settings stay on the workers
    planned = _planned(specs, assistants, reserved=not target)
    if redo is not None:
        planned = [key for key in planned if key.tenant is None or key in redo]
    early = open_early(options)  # a wrong Celery app or its broker down: one line, nothing touched
    if journal_dir is not None:  # opened once every argument is known to be good
        databases = [key for key in planned if key.tenant is not None]
        try:
            journal = Journal(Path(journal_dir), header_for(tenants, databases, **(journal_meta or {})))
        except BaseException:
            if early is not None:
                early.close()
            raise
        report.journal = journal
        report.add_listener(journal.record)
    report.emit(RunStarted(len(planned), tuple(s.key for s in specs)))
    runner: Executor | None = None
    aborted: TenantRouterError | None = None
    try:
        if not target:  # a rollback is for the selected tenants; shared databases stay as they are
            _migrate_reserved_and_coarse(specs, assistants, report)
        databases = [
            key
            for key in _tenant_units(specs, assistants, tenants, report, planned)
            if redo is None or key in redo
        ]
        if databases and not report.stopping:
            for spec in specs:
                assistants.get(spec.key).prepare()  # workers fork with the graphs already loaded
            runner = make_executor(options, assistants, report, setup, early)
            verdicts = preflight(databases, assistants, runner, settle=True)
            _refuse_irreversible(verdicts)
            pending = [k for k in databases if k.orm not in verdicts or _needs_work(verdicts[k.orm].get(k))]
            del verdicts  # one per database: not kept while the pending ones migrate
            if refuse_drift:
                local = runner if options.name == "processes" else None  # Celery replies carry no schemas
                pending = _refuse_drifted(config, assistants, local, report, pending)
            canaries = tenants[:canary] if canary else []
            _migrate_in_waves(specs, assistants, runner, report, pending, canaries, requeue)
    except KeyboardInterrupt:
        report.interrupted = True
        report.stop("interrupted")
    except (ExecutorError, ScratchDatabaseError) as exc:  # the report keeps what finished; the rest
        # is marked not started (reserved databases may have been migrated: not "nothing touched")
        aborted = exc
        report.stop(exc.message)
    finally:
        if runner is not None:
            runner.close()
        elif early is not None:
            early.close()
        assistants.close()
        if cancel.stop_requested():
            report.interrupted = True
            report.stop("interrupted")
        requeue.give_up(report)
        _mark_not_started(report, planned)
        report.seconds = time.monotonic() - report.started
        if report.journal is not None:
            report.journal.close(report)
    if report.interrupted:
        raise RunInterrupted(report)
    if aborted is not None:
        raise RunAborted(aborted, report) from aborted
    return report


def _check_limits(
    canary: int, max_failures: int | None, per_host: int | None, lock_timeout: float | None
) -> None:
    for name, value in (
        ("--canary", canary),
        ("--max-failures", max_failures),
        ("--max-connections-per-host", per_host),
    ):
        if value is not None and value < (0 if name == "--canary" else 1):
            raise UsageError(f"{name} must be at least {0 if name == '--canary' else 1}, got {value}.")
    if lock_timeout is not None and not (math.isfinite(lock_timeout) and lock_timeout >= 0):
        raise UsageError(
            f"--lock-timeout must be a finite number of seconds, 0 or more, got {lock_timeout:g}."
        )


def _planned(specs: list[OrmSpec], assistants: Assistants, *, reserved: bool) -> list[DbKey]:
    planned: list[DbKey] = []
    for spec in specs:
        planned += [
            DbKey(spec.key, t, a)
            for t, a in assistants.get(spec.key).planned_databases()
            if reserved or not (t is None and a is not None)
        ]
    return planned


def _needs_work(verdict: Verdict) -> bool:
    """Unknown, or pending steps; unreachable databases were settled by the pre-flight."""
    if isinstance(verdict, Unreachable):
        return False
    return verdict is None or not verdict.up_to_date


def _refuse_irreversible(verdicts: dict[str, dict[DbKey, Verdict]]) -> None:
    """A rollback through a migration that cannot be reversed is refused before anything runs."""
    found: dict[str, list[str]] = {}
    for by_key in verdicts.values():
        for (_orm, tenant, alias), verdict in by_key.items():
            if isinstance(verdict, Inspection):
                for step in verdict.irreversible:
                    found.setdefault(step, []).append(f"{tenant}/{alias}")
    if found:
        step, where = next(iter(found.items()))
        more = f" (and {len(found) - 1} more migration(s))" if len(found) > 1 else ""
        raise UsageError(
            f"Cannot roll back: migration {step} is irreversible{more}; {len(where)} database(s) would "
            f"need it reversed, e.g. {where[0]}. Nothing was touched.",
            hint="Pick a target after it, or give the migration a reverse (reverse_code / reverse_sql).",
        )


def _refuse_drifted(
    config: RouterConfig,
    assistants: Assistants,
    runner: Executor | None,
    report: MigrationReport,
    pending: list[DbKey],
) -> list[DbKey]:
    """--refuse-drift: the pending databases whose schema drifted are reported DRIFTED and left alone.

    Schemas are read by `runner`, or in this process when None (the run's executor is remote)."""
    from ..executors.inprocess import InProcessExecutor
    from ..record.events import TenantFailed
    from .drift import check_databases

    drifted = set()
    reader = runner or InProcessExecutor(assistants, report)
    for row in check_databases(pending, assistants, reader, config.drift_scratch):
        if row.state == "drifted":
            key = DbKey(row.orm, row.tenant, row.alias)
            drifted.add(key)
            report.emit(TenantFailed(*key, row.explain(), None, 0.0, None, Status.DRIFTED))
    return [key for key in pending if key not in drifted]


def _migrate_in_waves(
    specs: list[OrmSpec],
    assistants: Assistants,
    runner: Executor,
    report: MigrationReport,
    pending: list[DbKey],
    canary: list[str],
    requeue: Requeue,
) -> None:
    """Canary tenants first (stop if any fails or stays busy), then the rest; one ORM at a time within
    a wave, its busy databases taken again (rounds) before the next ORM starts."""
    first = set(canary)
    waves = (
        [[k for k in pending if k.tenant in first], [k for k in pending if k.tenant not in first]]
        if canary
        else [pending]
    )
    for number, wave in enumerate(waves):
        for spec in specs:  # one ORM at a time, so each tenant's ORMs are migrated in settings order
            if report.stopping:
                return
            keys = [k for k in wave if k.orm == spec.key]
            while keys and not report.stopping:
                runner.run(Task("migrate", (k,), assistants.host_of(k)) for k in keys)
                keys = requeue.next_round(spec.key)
        if canary and number == 0:  # the pre-flight's verdicts count too (an unreachable canary)
            failed = {r.tenant for r in report.rows() if r.tenant in first and r.status in FAILED_OR_BUSY}
            if failed:
                report.stop(
                    f"--canary: {len(failed)} of the first {len(canary)} tenant(s) failed or stayed busy"
                )


def preflight(
    databases: list[DbKey], assistants: Assistants, runner: Executor, *, settle: bool
) -> dict[str, dict[DbKey, Verdict]]:
    """Verdicts per ORM for every database whose assistant can inspect it (batched per tenant)."""
    keys = [k for k in databases if k.alias is not None and _inspectable(assistants.get(k.orm))]
    tasks = batched("inspect", keys, assistants, settle)
    verdicts: dict[str, dict[DbKey, Verdict]] = {}
    for key, verdict in runner.run(tasks):
        verdicts.setdefault(key.orm, {})[key] = verdict
    return verdicts


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
    specs: list[OrmSpec],
    assistants: Assistants,
    tenants: list[str],
    report: MigrationReport,
    planned: Sequence[DbKey] = (),
) -> Iterator[DbKey]:
    """(orm, tenant, alias) of every configured tenant database; the unconfigured are skipped. Keys
    equal to one of `planned` are that object (a run of many tenants holds one tuple per database)."""
    same = {key: key for key in planned}
    for spec in specs:
        asst = assistants.get(spec.key)
        if asst.is_coarse():
            continue
        if asst.is_per_tenant():
            yield from (DbKey(spec.key, t, None) for t in tenants)
            continue
        for t in tenants:
            for alias in asst.manager.template_aliases:
                fresh = DbKey(spec.key, t, alias)
                key = same.get(fresh, fresh)  # also the memo's key
                if assistants.find_db_config(key) is None:
                    report.for_orm(spec.key).skipped(t, alias, f"no {spec.key}.{alias} entry")
                else:
                    yield key


def _inspectable(asst: BaseOrmMigrationAsst) -> bool:
    return asst.inspects()


def _mark_not_started(report: MigrationReport, planned: list[DbKey]) -> None:
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
