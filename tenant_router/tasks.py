"""Units of work and how one is carried out, the same in this process or in a worker process."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .assistants import Assistants
from .dberrors import connect_failure_label
from .events import Status, TenantFailed, TenantFinished, TenantRetried
from .orm_backends.base import BaseOrmMigrationAsst
from .preflight import BookkeepingRead, Inspection, PreflightError, Unreachable, Verdict, read_many
from .report import DbKey, MigrationReport, one_line_error
from .retry import answered, delay_before, has_answered, pause, server_of, transient


@dataclass(frozen=True, slots=True)
class Task:
    """Inspect (pre-flight), migrate, or read the real schema of (drift) some databases."""

    id: int
    kind: Literal["inspect", "migrate", "drift"]
    units: tuple[DbKey, ...]
    host: str | None = None  # the server these databases live on, for the connection cap
    settle: bool = True  # inspect: report up-to-date and unreachable databases as settled


#: Tenants per read-only task (pre-flight, drift): few messages, still spread over the workers.
BATCH = 25


def host_of(assistants: Assistants, key: DbKey) -> str | None:
    """The server a database lives on, for the per-server connection cap (None: reserved-less/SQLite)."""
    orm, tenant, alias = key
    if alias is None:
        return None
    if key not in _HOSTS:
        find_db_config(assistants.get(orm), tenant, alias, key)  # notes the host
    return _HOSTS[key]


def batched(
    kind: Literal["inspect", "drift"],
    keys: list[DbKey],
    assistants: Assistants,
    first_id: int,
    settle: bool = True,
) -> list[Task]:
    """Read-only tasks over `keys`: a tenant's databases on one server in one task (those it shares are
    read over one connection), BATCH tenants a task, one server a task (the cap counts tasks)."""
    by_tenant: dict[tuple[str | None, str | None], list[DbKey]] = {}
    for key in keys:
        by_tenant.setdefault((key[1], host_of(assistants, key)), []).append(key)
    by_host: dict[str | None, list[list[DbKey]]] = {}
    for (_, host), group in by_tenant.items():
        by_host.setdefault(host, []).append(group)
    ids = itertools.count(first_id)
    return [
        Task(next(ids), kind, tuple(k for group in groups[i : i + BATCH] for k in group), host, settle)
        for host, groups in by_host.items()
        for i in range(0, len(groups), BATCH)
    ]


def execute(task: Task, assistants: Assistants, report: MigrationReport) -> list[tuple[DbKey, Any]]:
    """Carry out `task`, emitting its events into `report`; inspect and drift tasks return verdicts."""
    if task.kind == "inspect":
        return inspect(task.units, assistants, report if task.settle else None)
    if task.kind == "drift":
        from .drift.probe import probe_many

        found = probe_many(task.units, assistants)
        return [(key, _unreachable(p) if isinstance(p, BaseException) else p) for key, p in found]
    for orm, tenant, alias in task.units:
        asst = assistants.get(orm)
        orm_report = asst.report = report.for_orm(orm)
        if alias is None:
            assert tenant is not None
            with orm_report.tenant(tenant):
                asst.migrate_tenant(tenant)
            continue
        db_config = db_config_of(asst, tenant, alias)
        asst.run_database(tenant, alias, db_config)
    return []


def db_config_of(asst: BaseOrmMigrationAsst, tenant: str | None, alias: str) -> dict[str, Any]:
    """A configured database's settings (tenant None: a reserved one); don't modify the result."""
    db_config = find_db_config(asst, tenant, alias)
    assert db_config is not None, (tenant, alias)
    return db_config


def find_db_config(
    asst: BaseOrmMigrationAsst, tenant: str | None, alias: str, key: DbKey | None = None
) -> dict[str, Any] | None:
    """Like db_config_of, None when the tenant has no such database; computed once per run.

    Merging and URL parsing add up over thousands of tenants; forked workers inherit the memo. A run
    whose databases are migrated on other machines keeps only each database's server (see
    forget_db_configs): the settings would be half a kilobyte per database held for nothing. `key`:
    the caller's (orm, tenant, alias), kept as the memo's key instead of a copy.
    """
    key = key or (asst.manager.orm_key, tenant, alias)
    found = _DB_CONFIGS.get(key, _UNKNOWN)
    if found is _UNKNOWN:
        found = (
            asst.manager.reserved_db_config(alias)
            if tenant is None
            else asst.manager.tenant_db_config(tenant, alias)
        )
        if found is not None:
            host = asst.manager.host_key(found)
            _HOSTS[key] = None if host is None else sys.intern(host)
        if _keep:
            _DB_CONFIGS[key] = found
    return found


def forget_db_configs(*, keep: bool = True) -> None:
    """Start a run with an empty memo (the configuration may have changed since the last one);
    keep=False: remember each database's server only, compute its settings when asked."""
    global _keep
    _DB_CONFIGS.clear()
    _HOSTS.clear()
    _keep = keep


_UNKNOWN: Any = object()
_DB_CONFIGS: dict[DbKey, dict[str, Any] | None] = {}
_HOSTS: dict[DbKey, str | None] = {}
_keep = True


def inspect(
    units: tuple[DbKey, ...], assistants: Assistants, report: MigrationReport | None
) -> list[tuple[DbKey, Verdict]]:
    """Pre-flight verdicts; with a report, up-to-date and unreachable databases are settled in it."""
    verdicts: dict[DbKey, Inspection | BaseException | None] = {}
    shared: dict[str, list[tuple[DbKey, BookkeepingRead]]] = {}
    for key in units:
        orm, tenant, alias = key
        assert alias is not None
        asst = assistants.get(orm)
        db_config = db_config_of(asst, tenant, alias)
        read = _call(asst.bookkeeping_read, tenant or "", alias, db_config)
        if isinstance(read, BookkeepingRead):
            shared.setdefault(read.identity, []).append((key, read))
        elif read is None:
            verdicts[key] = _call(asst.inspect_database, tenant or "", alias, db_config)
        else:
            verdicts[key] = read
    for group in shared.values():  # one connection per physical database
        results = _read_retrying(group, report)
        verdicts.update((key, result) for (key, _), result in zip(group, results, strict=True))
    out: list[tuple[DbKey, Verdict]] = []
    for key in units:
        found = verdicts[key]
        verdict: Verdict = _unreachable(found) if isinstance(found, BaseException) else found
        if report is not None and isinstance(verdict, Unreachable):
            report.emit(TenantFailed(*key, verdict.line, None, 0.0))
        elif report is not None and isinstance(verdict, Inspection) and verdict.up_to_date:
            report.emit(TenantFinished(*key, Status.UP_TO_DATE, 0, verdict.current, 0.0))
        out.append((key, verdict))
    return out


def _read_retrying(
    group: list[tuple[DbKey, BookkeepingRead]], report: MigrationReport | None
) -> list[Inspection | BaseException]:
    """read_many, tried again with back-off while the connection fails transiently (a restart)."""
    server = server_of(group[0][1].identity)
    results = read_many([read for _, read in group])
    for attempt in itertools.count(2):
        if any(not isinstance(r, BaseException) for r in results):
            answered(server)
        before = has_answered(server)
        failed = next(
            (r for r in results if isinstance(r, BaseException) and transient(r, answered_before=before)),
            None,
        )
        delay = delay_before(attempt) if failed is not None else None
        if failed is None or delay is None:
            return results
        if report is not None:
            for key, _ in group:
                report.emit(TenantRetried(*key, one_line_error(failed), attempt, delay))
        if not pause(delay):
            return results
        results = read_many([read for _, read in group])
    return results


def _unreachable(exc: BaseException) -> Unreachable:
    if isinstance(exc, PreflightError):  # its own words: "not a database", "unreadable"
        return Unreachable(str(exc), message=str(exc))
    return Unreachable(one_line_error(exc), connect_failure_label(exc))


def _call(func: Callable[..., Any], *args: Any) -> Any:
    """func(*args), or the exception it raised."""
    try:
        return func(*args)
    except Exception as exc:
        return exc
