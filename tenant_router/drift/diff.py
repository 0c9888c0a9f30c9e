"""What differs between the schema a database's migrations promise and the one it has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .schema import Schema


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference: `kind` table/column/index/constraint, `problem` missing/extra/changed."""

    kind: str
    table: str
    name: str | None  # the column, index or constraint; None for a whole table
    problem: str
    expected: Any = None
    actual: Any = None

    @property
    def is_extra_table(self) -> bool:
        """A table the migrations know nothing of: the project's own, reported as a note."""
        return self.kind == "table" and self.problem == "extra"

    def describe(self) -> str:
        """`index shop_order_created missing`, `column shop_item.sku nullable, expected NOT NULL`."""
        if self.kind == "table":
            return f"table {self.table} {self.problem}"
        what = (
            f"{self.kind} {self.table}.{self.name}" if self.kind == "column" else f"{self.kind} {self.name}"
        )
        if self.problem != "changed":
            return f"{what} {self.problem}"
        if self.kind == "column":
            return f"{what} {_column_change(self.expected, self.actual)}"
        return f"{what} is {self.actual}, expected {self.expected}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "kind": self.kind,
            "table": self.table,
            "name": self.name,
            "problem": self.problem,
            "expected": self.expected,
            "actual": self.actual,
        }


def _column_change(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    parts = []
    if expected["nullable"] != actual["nullable"]:
        nullability = {True: "nullable", False: "NOT NULL"}
        parts.append(f"{nullability[actual['nullable']]}, expected {nullability[expected['nullable']]}")
    for field in ("type", "default"):
        if expected[field] != actual[field]:
            parts.append(f"{field} {actual[field]}, expected {expected[field]}")
    return "; ".join(parts)


def compare(expected: Schema, actual: Schema) -> list[Difference]:
    """Every difference, in a stable order (tables, then columns, indexes, constraints by name)."""
    found: list[Difference] = []
    for table in sorted(expected.keys() | actual.keys()):
        if table not in actual:
            found.append(Difference("table", table, None, "missing"))
        elif table not in expected:
            found.append(Difference("table", table, None, "extra"))
        else:
            for section, kind in (("columns", "column"), ("indexes", "index"), ("constraints", "constraint")):
                found += _compare_section(kind, table, expected[table][section], actual[table][section])
    return found


def _compare_section(
    kind: str, table: str, expected: dict[str, Any], actual: dict[str, Any]
) -> list[Difference]:
    found = []
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            found.append(Difference(kind, table, name, "missing", expected=expected[name]))
        elif name not in expected:
            found.append(Difference(kind, table, name, "extra", actual=actual[name]))
        elif expected[name] != actual[name]:
            found.append(Difference(kind, table, name, "changed", expected[name], actual[name]))
    return found
