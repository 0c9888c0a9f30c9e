"""Units of work and how one is carried out, the same in this process or in a worker process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .config import RouterConfig
from .events import Status, TenantFailed, TenantFinished
from .orm_backends.base import BaseOrmMigrationAsst
from .preflight import BookkeepingRead, Inspection, read_many
from .report import MigrationReport, one_line_error

DbKey = tuple[str, str, str | None]  # (orm, tenant, alias); alias None for per-tenant assistants


@dataclass(frozen=True, slots=True)
class Task:
    """Inspect (pre-flight) or migrate some databases."""

    id: int
    kind: Literal["inspect", "migrate"]
    units: tuple[DbKey, ...]
    host: str | None = None  # the server these databases live on, for the connection cap


class Assistants:
    """The assistants of one process, built once from the run's configuration."""

    def __init__(self, config: RouterConfig, built: dict[str, BaseOrmMigrationAsst] | None = None) -> None:
        self.config = config
        self._built = dict(built or {})

    def get(self, orm: str) -> BaseOrmMigrationAsst:
        """The assistant of `orm`, built on first use."""
        if orm not in self._built:
            from .engine import build_assistant

            spec = self.config.orms([orm])[0]
            self._built[orm] = build_assistant(spec, self.config)
        return self._built[orm]

    def close(self) -> None:
        """Close every assistant and manager."""
        for asst in self._built.values():
            asst.close()
            asst.manager.close()


def execute(task: Task, assistants: Assistants, report: MigrationReport) -> list[DbKey]:
    """Carry out `task`, emitting its events into `report`; return the units still pending."""
    if task.kind == "inspect":
        return inspect(task.units, assistants, report)
    for orm, tenant, alias in task.units:
        asst = assistants.get(orm)
        orm_report = asst.report = report.for_orm(orm)
        if alias is None:
            with orm_report.tenant(tenant):
                asst.migrate_tenant(tenant)
            continue
        db_config = asst.manager.tenant_db_config(tenant, alias)
        assert db_config is not None
        with orm_report.database(tenant, alias) as run:
            asst.migrate_database(run, db_config)
    return []


def inspect(units: tuple[DbKey, ...], assistants: Assistants, report: MigrationReport) -> list[DbKey]:
    """Pre-flight: settle up-to-date and unreachable databases; return the pending ones."""
    verdicts: dict[DbKey, Inspection | BaseException | None] = {}
    shared: dict[str, list[tuple[DbKey, BookkeepingRead]]] = {}
    for key in units:
        orm, tenant, alias = key
        assert alias is not None
        asst = assistants.get(orm)
        db_config = asst.manager.tenant_db_config(tenant, alias)
        assert db_config is not None
        read = _call(asst.bookkeeping_read, tenant, alias, db_config)
        if isinstance(read, BookkeepingRead):
            shared.setdefault(read.identity, []).append((key, read))
        elif read is None:
            verdicts[key] = _call(asst.inspect_database, tenant, alias, db_config)
        else:
            verdicts[key] = read
    for group in shared.values():  # one connection per physical database
        results = read_many([read for _, read in group])
        verdicts.update((key, result) for (key, _), result in zip(group, results, strict=True))
    pending: list[DbKey] = []
    for key in units:
        verdict = verdicts[key]
        if isinstance(verdict, BaseException):
            report.emit(TenantFailed(*key, f"unreachable: {one_line_error(verdict)}", None, 0.0))
        elif verdict is not None and verdict.up_to_date:
            report.emit(TenantFinished(*key, Status.UP_TO_DATE, 0, verdict.current, 0.0))
        else:
            pending.append(key)
    return pending


def _call(func: Callable[..., Any], *args: Any) -> Any:
    """func(*args), or the exception it raised."""
    try:
        return func(*args)
    except Exception as exc:
        return exc
