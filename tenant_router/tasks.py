"""Units of work and how one is carried out, the same in this process or in a worker process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .config import RouterConfig
from .orm_backends.base import BaseOrmMigrationAsst
from .report import MigrationReport

Unit = tuple[str, str | None]  # (tenant, alias); alias None for per-tenant assistants


@dataclass(frozen=True, slots=True)
class Task:
    """Inspect (pre-flight) or migrate some databases of one ORM."""

    id: int
    kind: Literal["inspect", "migrate"]
    orm: str
    units: tuple[Unit, ...]
    host: str | None = None  # the server these databases live on, for the connection cap


@dataclass(frozen=True, slots=True)
class Pending:
    """A pre-flight verdict the engine acts on: this unit still needs migrating."""

    orm: str
    tenant: str
    alias: str | None


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


def execute(task: Task, assistants: Assistants, report: MigrationReport) -> list[Pending]:
    """Carry out `task`, emitting its events into `report`; return the units still pending."""
    asst = assistants.get(task.orm)
    orm_report = report.for_orm(task.orm)
    asst.report = orm_report
    pending: list[Pending] = []
    for tenant, alias in task.units:
        if task.kind == "inspect":
            assert alias is not None
            if not _inspect(asst, report, task.orm, tenant, alias):
                pending.append(Pending(task.orm, tenant, alias))
        elif alias is None:
            with orm_report.tenant(tenant):
                asst.migrate_tenant(tenant)
        else:
            db_config = asst.manager.tenant_db_config(tenant, alias)
            assert db_config is not None
            with orm_report.database(tenant, alias) as run:
                asst.migrate_database(run, db_config)
    return pending


def _inspect(asst: BaseOrmMigrationAsst, report: MigrationReport, orm: str, tenant: str, alias: str) -> bool:
    """Pre-flight one database; True when it is settled (up to date or unreachable)."""
    from .events import Status, TenantFailed, TenantFinished
    from .report import one_line_error

    db_config = asst.manager.tenant_db_config(tenant, alias)
    assert db_config is not None
    try:
        inspection = asst.inspect_database(tenant, alias, db_config)
    except Exception as exc:
        report.emit(TenantFailed(orm, tenant, alias, f"unreachable: {one_line_error(exc)}", None, 0.0))
        return True
    if inspection is None or not inspection.up_to_date:
        return False
    report.emit(TenantFinished(orm, tenant, alias, Status.UP_TO_DATE, 0, inspection.current, 0.0))
    return True
