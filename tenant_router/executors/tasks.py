"""Units of work and how one is carried out, the same in this process or in a worker process."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..orm_backends.assistants import Assistants
from ..preflight import BookkeepingRead, Inspection, PreflightError, Unreachable, Verdict, read_many
from ..record.events import Status, TenantFailed, TenantFinished, TenantRetried
from ..record.keys import DbKey
from ..record.orm_report import OrmReport
from ..record.report import MigrationReport, one_line_error
from ..safety.dberrors import connect_failure_label
from ..safety.retry import answered, delay_before, has_answered, pause, server_of, transient

TaskKind = Literal["inspect", "migrate", "drift"]
#: The one allocator of task ids: unique among this process's tasks (a run's replies and stop requests
#: name their task by it), whichever phase or executor makes the task.
_task_ids = itertools.count(1)


def _next_task_id() -> int:
    return next(_task_ids)


@dataclass(frozen=True, slots=True)
class Task:
    """Inspect (pre-flight), migrate, or read the real schema of (drift) some databases."""

    kind: TaskKind
    units: tuple[DbKey, ...]
    host: str | None = None  # the server these databases live on, for the connection cap
    settle: bool = True  # inspect: report up-to-date and unreachable databases as settled
    id: int = field(default_factory=_next_task_id)  # a worker rebuilding a task passes the run's id


#: Tenants per read-only task (pre-flight, drift): few messages, still spread over the workers.
BATCH = 25


def batched(
    kind: Literal["inspect", "drift"],
    keys: list[DbKey],
    assistants: Assistants,
    settle: bool = True,
) -> list[Task]:
    """Read-only tasks over `keys`: a tenant's databases on one server in one task (those it shares are
    read over one connection), BATCH tenants a task, one server a task (the cap counts tasks)."""
    by_tenant: dict[tuple[str | None, str | None], list[DbKey]] = {}
    for key in keys:
        by_tenant.setdefault((key.tenant, assistants.host_of(key)), []).append(key)
    by_host: dict[str | None, list[list[DbKey]]] = {}
    for (_, host), group in by_tenant.items():
        by_host.setdefault(host, []).append(group)
    return [
        Task(kind, tuple(k for group in groups[i : i + BATCH] for k in group), host, settle)
        for host, groups in by_host.items()
        for i in range(0, len(groups), BATCH)
    ]


def execute(task: Task, assistants: Assistants, report: MigrationReport) -> list[tuple[DbKey, Any]]:
    """Carry out `task`, emitting its events into `report`; inspect and drift tasks return verdicts."""
    if task.kind == "inspect":
        return inspect(task.units, assistants, report if task.settle else None)
    if task.kind == "drift":
        from ..drift.probe import probe_many

        found = probe_many(task.units, assistants)
        return [(key, _unreachable(p) if isinstance(p, BaseException) else p) for key, p in found]
    for key in task.units:
        orm, tenant, alias = key
        asst = assistants.get(orm)
        orm_report = asst.report = OrmReport(report, orm)
        if alias is None:
            assert tenant is not None
            with orm_report.tenant(tenant):
                asst.migrate_tenant(tenant)
            continue
        asst.run_database(tenant, alias, assistants.db_config(key))
    return []


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
        db_config = assistants.db_config(key)
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
        if report is not None and isinstance(verdict, Unreachable) and verdict.label != "missing":
            report.emit(TenantFailed(*key, verdict.line, None, 0.0))  # missing: the run's to settle
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
    label = connect_failure_label(exc)
    if label == "missing":
        return Unreachable(one_line_error(exc), label, f"the database does not exist: {one_line_error(exc)}")
    return Unreachable(one_line_error(exc), label)


def _call(func: Callable[..., Any], *args: Any) -> Any:
    """func(*args), or the exception it raised."""
    try:
        return func(*args)
    except Exception as exc:
        return exc
