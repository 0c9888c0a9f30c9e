"""The migration graph read from disk once per process, and pending migrations from applied rows."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.db.migrations.loader import MigrationLoader

Key = tuple[str, str]


@dataclass(frozen=True)
class DiskGraph:
    """Every migration on disk in application order, and which squashed ones replace which."""

    order: tuple[Key, ...]
    replacements: dict[Key, tuple[Key, ...]]

    def pending(self, applied: list[Key]) -> tuple[Key, ...]:
        """Migrations of the graph a database with these applied rows still needs, in order."""
        done = set(applied)
        for squashed, replaced in self.replacements.items():
            if all(r in done for r in replaced):
                done.add(squashed)  # Django counts a squash applied when all it replaces are
            if squashed in done:
                done.update(replaced)
        return tuple(key for key in self.order if key not in done)


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
