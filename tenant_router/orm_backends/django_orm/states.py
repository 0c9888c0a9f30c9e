"""Rendered model states shared by the tenants that start from the same migration state.

Most of the CPU a Django migration costs is re-rendering historical models: before each operation
Django clones the project state and re-renders the models the operation touches. Those states are
built from the migration files alone, so for databases that start with the same set of applied
migrations, the plan and every intermediate state are identical. The first such database records the
states around each operation; the next ones replay each operation's `database_forwards` against their
own schema editor with the recorded states.

The migration graph is shared the same way: Django's `MigrationExecutor` builds a `MigrationLoader` per
database (the migration files walked again, `django_migrations` read, the graph rebuilt); the
graph depends only on the files and on the applied rows, so databases with the same applied rows get a
copy of the loader built for the first of them, with their own rows and connection.

Why that is safe (each point was a bug found on real histories, wagtail's among them):
* Every database gets its own `Migration` objects, as Django's own `migrate` does (it reads the files into a
  fresh loader): `pre_migrate` handlers edit them in place (contenttypes' `inject_rename_contenttypes_operations`
  inserts a `RenameContentType` after every `RenameModel`), so shared ones drifted one operation per database.
* A recorded state is never handed to code that may change it: a cache miss works on a clone; `RunPython`,
  operations Django does not ship, and `SeparateDatabaseAndState` get a clone of the recorded state, as Django
  gives them (`RunPython` drops and re-renders the apps of the state it gets); and the one state method that
  edits field objects in place (`rename_field`: `to_fields`, `from_fields`, `remote_field.field_name`) runs on
  copies of those fields, so states recorded earlier keep theirs.
* A database that fails part-way drops the states of its starting point: the next one records them again.
* Operations take the connection from the schema editor they are given, never from a state; historical
  model classes hold no connection, and their ContentType caches are emptied before and after each
  database (`clear_caches`), so no tenant's ids reach another.

This module holds what is shared (StateCache); replay.py the executor that records and replays it.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.db.migrations.graph import MigrationGraph
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState, StateApps

from .graph import Key


@dataclass
class StartState:
    """What every database starting from one set of applied migrations shares."""

    pre_state: ProjectState | None = None  # rendered, before the first pending migration
    steps: dict[Key, list[ProjectState]] = field(default_factory=dict)  # states around each operation
    post_apps: StateApps | None = None  # post_migrate's apps, real models re-rendered


class StateCache:
    """A few StartStates and loaders, most recently used kept (one process, one run)."""

    def __init__(self, limit: int = 4) -> None:
        self.limit = limit
        self._starts: OrderedDict[frozenset[Key], StartState] = OrderedDict()
        self._loaders: OrderedDict[frozenset[Key], SharedLoader] = OrderedDict()

    def start(self, applied: frozenset[Key]) -> StartState:
        """The shared states of databases that start with `applied`."""
        return _recent(self._starts, applied, StartState, self.limit)

    def loader(self, connection: Any, recorder: MigrationRecorder) -> tuple[SharedLoader, MigrationLoader]:
        """The cached entry of the rows `recorder` read (built once per applied set), and a loader for
        `connection` copied from it.

        The copy shares the graph, the migrations read from disk and the replacements (none of which
        a migration run changes; a rebuild, as a plan to a replaced migration does, replaces them on
        the copy only) and carries this database's own rows and connection.
        """
        rows = recorder.applied_migrations()
        shared = _recent(
            self._loaders, frozenset(rows), lambda: SharedLoader(MigrationLoader(connection)), self.limit
        )
        loader = copy.copy(shared.loader)
        loader.graph = own_migrations(shared.loader.graph)
        loader.connection = connection
        # Django's applied set (a squash whose replaced migrations are all applied counts as applied)
        # with this database's rows as the values.
        loader.applied_migrations = {k: rows.get(k, v) for k, v in shared.loader.applied_migrations.items()}
        return shared, loader

    def discard(self, applied: frozenset[Key]) -> None:
        """Forget the states of databases starting with `applied` (one of them failed part-way)."""
        self._starts.pop(applied, None)

    def clear_caches(self) -> None:
        """Empty the ContentType caches of every historical model rendered so far (they hold ids)."""
        managers: dict[int, Any] = {}
        for start in self._starts.values():
            states = [start.pre_state, *(s for steps in start.steps.values() for s in steps)]
            registries = [s.__dict__["apps"] for s in states if s is not None and "apps" in s.__dict__]
            if start.post_apps is not None:
                registries.append(start.post_apps)
            for registry in registries:
                model = registry.all_models.get("contenttypes", {}).get("contenttype")
                if model is not None:
                    for manager in model._meta.managers:
                        managers.setdefault(id(manager), manager)
        for manager in managers.values():
            if hasattr(manager, "clear_cache"):
                manager.clear_cache()


def own_migrations(graph: MigrationGraph) -> MigrationGraph:
    """The graph with a fresh copy of each Migration, as a newly read loader has (pre_migrate edits them)."""
    copied = copy.copy(graph)
    copied.nodes = {key: _fresh(migration) for key, migration in graph.nodes.items()}
    return copied


def _fresh(migration: Migration) -> Migration:
    """What Migration.__init__ copies: its lists, which may be changed at run time."""
    new = copy.copy(migration)
    new.operations = list(migration.operations)
    new.dependencies = list(migration.dependencies)
    new.run_before = list(migration.run_before)
    new.replaces = list(migration.replaces)
    return new


@dataclass
class SharedLoader:
    """A loader built for one applied set, and whether Django's history check passed for that set
    (it depends on nothing else)."""

    loader: MigrationLoader
    consistent: bool = False


def _recent(entries: OrderedDict[frozenset[Key], Any], key: frozenset[Key], make: Any, limit: int) -> Any:
    """entries[key] (made when missing), marked most recently used; the least recent beyond `limit` go."""
    entry = entries.pop(key, None)
    if entry is None:
        entry = make()
    entries[key] = entry
    while len(entries) > limit:
        entries.popitem(last=False)
    return entry
