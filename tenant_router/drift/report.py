"""The drift check's result: every database classified, grouped by state and schema fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..record.events import OutputLogged
from ..record.keys import database_label
from .diff import Difference

#: How groups are ordered and named.
STATES = {
    "match": "match their migrations",
    "pending": "pending (not drift)",
    "drifted": "drifted",
    "unknown": "unknown state",
    "unreachable": "unreachable",
    "skipped": "skipped",
}


@dataclass(frozen=True)
class DatabaseDrift:
    """One database: its state (a key of STATES), its fingerprint and what differs."""

    orm: str
    tenant: str | None
    alias: str | None
    state: str
    fingerprint: str | None = None
    expected: str | None = None  # the fingerprint its migrations promise
    pending: tuple[str, ...] = ()
    current: str | None = None
    differences: tuple[Difference, ...] = ()
    notes: tuple[Difference, ...] = ()  # tables outside the migrations (drift under --strict)
    error: str | None = None

    @property
    def label(self) -> str:
        """tenant/alias, or "alias (reserved)"."""
        return database_label(self.tenant, self.alias)

    def explain(self, limit: int = 3) -> str:
        """`index shop_order_created missing; column shop_item.sku nullable, expected NOT NULL`."""
        parts = [d.describe() for d in self.differences[:limit]]
        if len(self.differences) > limit:
            parts.append(f"{len(self.differences) - limit} more")
        return "; ".join(parts) if parts else (self.error or "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "tenant": self.tenant,
            "alias": self.alias,
            "fingerprint": self.fingerprint,
            "expected_fingerprint": self.expected,
            "current": self.current,
            "pending": list(self.pending),
            "differences": [d.to_dict() for d in self.differences],
            "notes": [d.to_dict() for d in self.notes],
            "error": self.error,
        }


@dataclass
class DriftGroup:
    """Databases in the same state with the same real schema."""

    state: str
    fingerprint: str | None
    databases: list[DatabaseDrift] = field(default_factory=list)


@dataclass
class DriftReport:
    """Every selected database's drift state, in configuration order."""

    rows: list[DatabaseDrift]
    orms: list[str]
    strict: bool = False
    output: list[OutputLogged] = field(default_factory=list)  # what the scratch migrations wrote

    def groups(self, orm: str) -> list[DriftGroup]:
        """In STATES order, the largest first within a state."""
        groups: dict[tuple[str, str | None], DriftGroup] = {}
        for row in self.rows:
            if row.orm == orm:
                key = (row.state, row.fingerprint)
                groups.setdefault(key, DriftGroup(*key)).databases.append(row)
        order = list(STATES)
        return sorted(groups.values(), key=lambda g: (order.index(g.state), -len(g.databases)))

    def summary(self, orm: str) -> str:
        """`412 match their migrations; 37 pending (not drift); 3 drifted: tenant-7 (index ... missing)`."""
        parts = []
        for state, words in STATES.items():
            rows = [r for r in self.rows if r.orm == orm and r.state == state]
            if not rows:
                continue
            part = f"{len(rows)} {words}"
            if state in ("drifted", "unknown"):
                shown = ", ".join(f"{r.label} ({r.explain()})" for r in rows[:3])
                part += f": {shown}" + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
            parts.append(part)
        return "; ".join(parts) or "no databases"

    @property
    def drifted(self) -> list[DatabaseDrift]:
        """The drifted databases."""
        return [r for r in self.rows if r.state == "drifted"]

    @property
    def unreachable(self) -> bool:
        """Any database that could not be read."""
        return any(r.state == "unreachable" for r in self.rows)

    @property
    def unchecked(self) -> bool:
        """Any database that could not be checked: unreachable, or in an unknown state."""
        return any(r.state in ("unreachable", "unknown") for r in self.rows)

    @property
    def notes(self) -> list[DatabaseDrift]:
        """Databases with tables outside their migrations (not drift unless strict)."""
        return [r for r in self.rows if r.notes]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per ORM, its groups with their fingerprint, databases and differences."""
        return {
            "drifted": bool(self.drifted),
            "unreachable": self.unreachable,
            "unchecked": self.unchecked,
            "strict": self.strict,
            "orms": [
                {
                    "orm": orm,
                    "summary": self.summary(orm),
                    "groups": [
                        {
                            "state": g.state,
                            "fingerprint": g.fingerprint,
                            "count": len(g.databases),
                            "databases": [d.to_dict() for d in g.databases],
                        }
                        for g in self.groups(orm)
                    ],
                }
                for orm in self.orms
            ],
        }
