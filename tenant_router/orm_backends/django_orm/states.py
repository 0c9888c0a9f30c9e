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

Why that is safe: a recorded state is never handed to code that mutates it (a cache miss works on a
clone), operations take the connection from the schema editor they are given, never from a state, and
historical model classes hold no connection. Data migrations that use `apps.get_model(...)` get the same
historical models every tenant would have rendered for itself; their queries still go through the
router to the database being migrated.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, transaction
from django.db.migrations.executor import MigrationExecutor
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
        loader.connection = connection
        # Django's applied set (a squash whose replaced migrations are all applied counts as applied)
        # with this database's rows as the values.
        loader.applied_migrations = {k: rows.get(k, v) for k, v in shared.loader.applied_migrations.items()}
        return shared, loader


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


class TenantRecorder(MigrationRecorder):
    """One database's `django_migrations`, read once until something is recorded.

    Django's executor asks a fresh recorder whether the table exists (a query listing every table)
    and reads the rows several times over; one recorder shared by the loader and the executor reads the
    rows once, and lists the tables only when that read fails.
    """

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self._has_table: bool = False  # Django's own memo (set by has_table())
        self._rows: dict[Key, Any] | None = None

    def applied_migrations(self) -> dict[Key, Any]:
        if self._rows is None and not self._has_table and self._may_try():
            try:  # read first, list the tables only when that fails (a database never migrated)
                self._rows = {(m.app, m.name): m for m in self.migration_qs}
                self._has_table = True
            except DatabaseError:
                pass
        if self._rows is None:
            self._rows = super().applied_migrations()
        return dict(self._rows)

    def _may_try(self) -> bool:
        """A failed query leaves no trace only outside a transaction."""
        connection = self.connection
        return bool(connection.get_autocommit()) and not connection.in_atomic_block

    def forget(self) -> None:
        """Read the rows again next time."""
        self._rows = None

    def record_applied(self, app: str, name: str) -> None:
        self._rows = None
        super().record_applied(app, name)

    def record_unapplied(self, app: str, name: str) -> None:
        self._rows = None
        super().record_unapplied(app, name)


class ReplayingMigration:
    """A migration whose `apply` records or replays the states around its operations."""

    def __init__(self, migration: Migration, start: StartState) -> None:
        self._migration, self._start = migration, start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._migration, name)

    def apply(
        self, project_state: ProjectState, schema_editor: Any, collect_sql: bool = False
    ) -> ProjectState:
        """Django's Migration.apply, with recorded states when another database already made them."""
        migration, key = self._migration, (self._migration.app_label, self._migration.name)
        states = self._start.steps.get(key)
        if states is None:
            project_state = project_state.clone()  # the incoming state may be a recorded one
            states = [project_state.clone()]
            for operation in migration.operations:
                old_state = states[-1]
                operation.state_forwards(migration.app_label, project_state)
                self._forwards(operation, schema_editor, old_state, project_state)
                states.append(project_state.clone())
            self._start.steps[key] = states
            return states[-1]
        for index, operation in enumerate(migration.operations):
            self._forwards(operation, schema_editor, states[index], states[index + 1])
        return states[-1]

    def _forwards(self, operation: Any, schema_editor: Any, old: ProjectState, new: ProjectState) -> None:
        """Run one operation as Migration.apply does, transaction rules included."""
        migration = self._migration
        atomic_operation = operation.atomic or (migration.atomic and operation.atomic is not False)
        if not schema_editor.atomic_migration and atomic_operation:
            with transaction.atomic(schema_editor.connection.alias):
                operation.database_forwards(migration.app_label, schema_editor, old, new)
        else:
            operation.database_forwards(migration.app_label, schema_editor, old, new)


class ReplayingExecutor(MigrationExecutor):
    """A MigrationExecutor whose forward migrations share rendered states through a StartState.

    Its loader comes from the StateCache and its recorder is the one that loader's rows came from.
    """

    def __init__(self, connection: Any, progress_callback: Any, cache: StateCache) -> None:
        # What MigrationExecutor.__init__ sets, with a shared loader instead of a freshly built one.
        self.connection = connection
        self.recorder = TenantRecorder(connection)
        self.shared, self.loader = cache.loader(connection, self.recorder)
        self.progress_callback = progress_callback
        self.start = cache.start(frozenset(self.loader.applied_migrations))

    def check_consistent_history(self) -> None:
        """Django's `loader.check_consistent_history`, once per applied set."""
        if not self.shared.consistent:
            self.loader.check_consistent_history(self.connection)
            self.shared.consistent = True

    def check_replacements(self) -> None:
        """Django's check after a run (record squashes whose replaced migrations are all applied)."""
        if self.loader.replacements:  # nothing to record otherwise: skip reading the rows again
            self.recorder.forget()
            super().check_replacements()

    def apply_migration(
        self, state: ProjectState, migration: Migration, fake: bool = False, fake_initial: bool = False
    ) -> ProjectState:
        """Apply forwards through ReplayingMigration (recording, backwards and fakes are Django's own)."""
        replaying: Any = ReplayingMigration(migration, self.start)
        return super().apply_migration(state, replaying, fake=fake, fake_initial=fake_initial)
