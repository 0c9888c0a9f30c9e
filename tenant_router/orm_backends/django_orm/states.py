"""Rendered model states shared by the tenants that start from the same migration state.

Most of the CPU a Django migration costs is re-rendering historical models: before each operation
Django clones the project state and re-renders the models the operation touches. Those states are
built from the migration files alone, so for databases that start with the same set of applied
migrations, the plan and every intermediate state are identical. The first such database records the
states around each operation; the next ones replay each operation's `database_forwards` against their
own schema editor with the recorded states.

Why that is safe: a recorded state is never handed to code that mutates it (a cache miss works on a
clone), operations take the connection from the schema editor they are given, never from a state, and
historical model classes hold no connection. Data migrations that use `apps.get_model(...)` get the same
historical models every tenant would have rendered for itself; their queries still go through the
router to the database being migrated.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.state import ProjectState, StateApps

Key = tuple[str, str]


@dataclass
class StartState:
    """What every database starting from one set of applied migrations shares."""

    pre_state: ProjectState | None = None  # rendered, before the first pending migration
    steps: dict[Key, list[ProjectState]] = field(default_factory=dict)  # states around each operation
    post_apps: StateApps | None = None  # post_migrate's apps, real models re-rendered


class StateCache:
    """A few StartStates, most recently used kept (one process, one run)."""

    def __init__(self, limit: int = 4) -> None:
        self.limit = limit
        self._starts: OrderedDict[frozenset[Key], StartState] = OrderedDict()

    def start(self, applied: frozenset[Key]) -> StartState:
        """The shared states of databases that start with `applied`."""
        entry = self._starts.pop(applied, None) or StartState()
        self._starts[applied] = entry
        while len(self._starts) > self.limit:
            self._starts.popitem(last=False)
        return entry


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
    """A MigrationExecutor whose forward migrations share rendered states through a StartState."""

    def __init__(self, connection: Any, progress_callback: Any, start: StartState | None = None) -> None:
        super().__init__(connection, progress_callback)
        self.start = start or StartState()  # the caller sets the shared one once the loader read the rows

    def apply_migration(
        self, state: ProjectState, migration: Migration, fake: bool = False, fake_initial: bool = False
    ) -> ProjectState:
        """Apply forwards through ReplayingMigration (recording, backwards and fakes are Django's own)."""
        replaying: Any = ReplayingMigration(migration, self.start)
        return super().apply_migration(state, replaying, fake=fake, fake_initial=fake_initial)
