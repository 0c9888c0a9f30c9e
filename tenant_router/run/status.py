"""The fleet at a glance: what every database has pending, read by the pre-flight, nothing migrated.

The run behind `tenant-router status`, `migrate --plan` and `migrate --check` (`api.fleet_status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config.model import RouterConfig
from ..executors import ExecutorSpec
from ..preflight import Inspection, Unreachable
from ..record.keys import DbKey, database_label
from .fleet import reading_fleet
from .phases import preflight
from .requests import Selection


@dataclass(frozen=True)
class DatabaseState:
    """One database as the pre-flight found it."""

    orm: str
    tenant: str | None
    alias: str | None
    #: "at_head", "pending", "missing" (the server says it does not exist), "unreachable", "unknown" (the
    #: ORM cannot tell), "skipped"
    state: str
    pending: tuple[str, ...] = ()
    current: str | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        """tenant/alias, or "alias (reserved)"."""
        return database_label(self.tenant, self.alias)


@dataclass
class Group:
    """Databases in the same state with the same pending steps."""

    state: str
    pending: tuple[str, ...]
    databases: list[DatabaseState] = field(default_factory=list)

    def describe(self) -> str:
        """`37 pending shop.0042_x (+2 more)`."""
        n = len(self.databases)
        if self.state == "pending":
            more = f" (+{len(self.pending) - 1} more)" if len(self.pending) > 1 else ""
            return f"{n} pending {self.pending[0]}{more}"
        return f"{n} {self.state.replace('_', ' ')}"


@dataclass
class FleetStatus:
    """Every selected database's state, in configuration order."""

    rows: list[DatabaseState]
    orms: list[str]

    def groups(self, orm: str) -> list[Group]:
        """At head first, then pending groups (largest first), unknown, missing, unreachable, skipped."""
        groups: dict[tuple[str, tuple[str, ...]], Group] = {}
        for row in self.rows:
            if row.orm == orm:
                key = (row.state, row.pending)
                groups.setdefault(key, Group(row.state, row.pending)).databases.append(row)
        order = {"at_head": 0, "pending": 1, "unknown": 2, "missing": 3, "unreachable": 4, "skipped": 5}
        return sorted(groups.values(), key=lambda g: (order[g.state], -len(g.databases)))

    def summary(self, orm: str) -> str:
        """`412 at head, 37 pending shop.0042 (+2 more), 3 unreachable`."""
        return ", ".join(g.describe() for g in self.groups(orm)) or "no databases"

    @property
    def pending(self) -> bool:
        """Anything to migrate (or that cannot be told apart from it)."""
        return any(r.state in ("pending", "unknown") for r in self.rows)

    @property
    def missing(self) -> bool:
        """Any database the server says does not exist."""
        return any(r.state == "missing" for r in self.rows)

    @property
    def unreachable(self) -> bool:
        """Any database the pre-flight could not read."""
        return any(r.state == "unreachable" for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per ORM, its groups and their databases."""
        return {
            "pending": self.pending,
            "unreachable": self.unreachable,
            "missing": self.missing,
            "orms": [
                {
                    "orm": orm,
                    "summary": self.summary(orm),
                    "groups": [
                        {
                            "state": g.state,
                            "pending": list(g.pending),
                            "count": len(g.databases),
                            "databases": [
                                {"tenant": d.tenant, "alias": d.alias, "current": d.current, "error": d.error}
                                for d in g.databases
                            ],
                        }
                        for g in self.groups(orm)
                    ],
                }
                for orm in self.orms
            ],
        }


def read_status(
    config: RouterConfig | None, selection: Selection, target: tuple[str, ...], executor: ExecutorSpec
) -> FleetStatus:
    """Read every selected database's bookkeeping and say what a migrate run would do; touch nothing."""
    with reading_fleet(config, selection, executor, target=target) as fleet:
        verdicts = preflight(fleet.keys, fleet.assistants, fleet.runner, settle=False)
    specs, keys, assistants, report = fleet.specs, fleet.keys, fleet.assistants, fleet.report
    rows = [_row(key, verdicts.get(key.orm, {}).get(key)) for key in keys]
    rows += [DatabaseState(r.orm, r.tenant, r.alias, "skipped") for r in report.rows()]
    order = {key: i for i, key in enumerate(keys)}
    orms = [s.key for s in specs]
    rows.sort(key=lambda r: (orms.index(r.orm), order.get(DbKey(r.orm, r.tenant, r.alias), 0)))
    return FleetStatus(rows, [s.key for s in specs if not assistants.get(s.key).is_coarse()])


def _row(key: DbKey, verdict: Inspection | Unreachable | None) -> DatabaseState:
    orm, tenant, alias = key
    if isinstance(verdict, Unreachable) and verdict.label == "missing":
        return DatabaseState(orm, tenant, alias, "missing", error=verdict.line)
    if isinstance(verdict, Unreachable):
        auth = verdict.label != "unreachable"  # the group says unreachable; say why when it is the login
        error = f"{verdict.label}: {verdict.error}" if auth else verdict.error
        return DatabaseState(orm, tenant, alias, "unreachable", error=error)
    if verdict is None:
        return DatabaseState(orm, tenant, alias, "unknown")
    state = "at_head" if verdict.up_to_date else "pending"
    return DatabaseState(orm, tenant, alias, state, verdict.pending, verdict.current)
