"""The migration graph read from disk once per process, and Django's planning over it (no database)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from ...errors import UsageError

Key = tuple[str, str]


@dataclass(frozen=True)
class DiskGraph:
    """Every migration on disk in application order, and which squashed ones replace which."""

    order: tuple[Key, ...]
    replacements: dict[Key, tuple[Key, ...]]

    def applied(self, rows: list[Key]) -> set[Key]:
        """The applied set as Django counts it: a squash is applied when all it replaces are."""
        done = set(rows)
        for squashed, replaced in self.replacements.items():
            if all(r in done for r in replaced):
                done.add(squashed)
        return done

    def pending(self, rows: list[Key]) -> tuple[Key, ...]:
        """Migrations of the graph a database with these applied rows still needs, in order."""
        done = self.applied(rows)
        for squashed, replaced in self.replacements.items():
            if squashed in done:
                done.update(replaced)
        return tuple(key for key in self.order if key not in done)


def latest_applied(rows: Sequence[Key]) -> str | None:
    """`app.name` of the last migration applied, from rows in the order they were recorded.

    A squashed migration is recorded after the ones it replaces once they are all applied, which says
    nothing about where the database is: it is skipped."""
    squashes = disk_graph().replacements
    for app, name in reversed(rows):
        if (app, name) not in squashes:
            return f"{app}.{name}"
    return f"{rows[-1][0]}.{rows[-1][1]}" if rows else None


BACKWARDS = " (backwards)"


def target_label(targets: Sequence[tuple[str, str | None]]) -> str:
    """How people name where --target takes an app: `shop.0002_x`, or `shop zero`."""
    return ", ".join(f"{app}.{name}" if name else f"{app} zero" for app, name in targets)


def step_name(migration: Any, backwards: bool) -> str:
    """`shop.0003_x`, or `shop.0003_x (backwards)` when it is unapplied."""
    return f"{migration.app_label}.{migration.name}{BACKWARDS if backwards else ''}"


def irreversible_steps(plan: list[tuple[Any, bool]]) -> tuple[str, ...]:
    """Backwards steps with an operation that cannot be reversed (RunPython without reverse_code, ...)."""
    return tuple(
        step_name(m, True)
        for m, backwards in plan
        if backwards and any(not op.reversible for op in m.operations)
    )


def rolls_back_whole(step: str, db_config: dict[str, Any]) -> bool:
    """True for an atomic migration on a database with transactional DDL (PostgreSQL, SQLite): a
    connection lost mid-way leaves nothing of it (it is not recorded either)."""
    engine = str(db_config.get("ENGINE", ""))
    if not any(vendor in engine for vendor in ("postgresql", "postgis", "sqlite")):
        return False
    app_label, _, name = step.removesuffix(BACKWARDS).partition(".")
    migration = planner().loader.graph.nodes.get((app_label, name))
    return bool(migration is not None and migration.atomic)


@cache
def planner() -> MigrationExecutor:
    """An executor with no connection: Django's own planning over the graph read from disk."""
    return MigrationExecutor(None)


def plan_for(applied: list[Key], targets: list[tuple[str, str | None]] | None) -> list[tuple[Any, bool]]:
    """What `migrate` would run from these applied rows to `targets` (None: every app's latest)."""
    executor = planner()
    executor.loader.applied_migrations = dict.fromkeys(disk_graph().applied(applied))
    return executor.migration_plan(targets or executor.loader.graph.leaf_nodes())


def resolve_target(app_label: str, name: str) -> tuple[str, str | None]:
    """`shop`, `0003` -> ("shop", "0003_order_index"); `zero` -> ("shop", None); else a UsageError."""
    loader = planner().loader
    if app_label not in loader.migrated_apps:
        raise UsageError(f"--target: app {app_label!r} has no migrations.")
    if name == "zero":
        return app_label, None
    try:
        migration = loader.get_migration_by_prefix(app_label, name)
    except AmbiguityError:
        raise UsageError(f"--target: more than one migration of {app_label!r} matches {name!r}.") from None
    except KeyError:
        raise UsageError(f"--target: no migration of {app_label!r} matches {name!r}.") from None
    return app_label, migration.name


@cache
def disk_graph() -> DiskGraph:
    """Load the migration graph from disk (no database) the first time it is asked for."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    seen: dict[Key, None] = {}
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            seen.setdefault(key, None)
    replacements = {k: tuple(m.replaces) for k, m in loader.replacements.items()}
    return DiskGraph(tuple(seen), replacements)
