"""Pre-flight for Django: the migration graph read from disk once per process, applied rows read cheaply."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.utils import load_backend

from ...preflight import BookkeepingRead, Inspection, database_identity

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


def raw_connector(db_config: dict[str, Any]) -> tuple[Callable[[], Any], str]:
    """(open a raw driver connection, the database identity) for a DATABASES entry.

    No Django connection wrapper, no session set-up queries: just the driver's connect.
    """
    settings = connections.configure_settings({"default": dict(db_config)})["default"]
    wrapper = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, "tenant_router:preflight")
    backend = settings["ENGINE"].rsplit(".", 1)[-1]
    identity = database_identity(
        backend, settings.get("HOST"), settings.get("PORT"), str(settings.get("NAME")), settings.get("USER")
    )
    return (lambda: wrapper.get_new_connection(wrapper.get_connection_params())), identity


def bookkeeping_read(db_config: dict[str, Any]) -> BookkeepingRead:
    """Read `django_migrations` and compare it with the graph on disk."""
    connect, identity = raw_connector(db_config)

    def interpret(rows: Sequence[tuple[Any, ...]]) -> Inspection:
        applied = [(str(app), str(name)) for app, name in rows]
        pending = disk_graph().pending(applied)
        current = f"{applied[-1][0]}.{applied[-1][1]}" if applied else None
        return Inspection(tuple(f"{app}.{name}" for app, name in pending), current)

    return BookkeepingRead(
        identity, connect, "SELECT app, name FROM django_migrations ORDER BY id", interpret
    )
