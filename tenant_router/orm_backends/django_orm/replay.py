"""The executor that records and replays the shared states of states.py, and a recorder that reads
`django_migrations` once."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.operations import RenameField, RunPython, SeparateDatabaseAndState
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState

from .graph import Key
from .states import StartState, StateCache


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
                if _renames_fields(operation):
                    _detach_field_references(project_state)  # states recorded so far keep their fields
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
        if not _pure(operation):  # may change the state it is given: give it a copy, as Django does
            old = old.clone()
            if _renames_fields(operation):
                _detach_field_references(old)
        atomic_operation = operation.atomic or (migration.atomic and operation.atomic is not False)
        if not schema_editor.atomic_migration and atomic_operation:
            with transaction.atomic(schema_editor.connection.alias):
                operation.database_forwards(migration.app_label, schema_editor, old, new)
        else:
            operation.database_forwards(migration.app_label, schema_editor, old, new)


_DJANGO_OPERATIONS = "django.db.migrations.operations."


def _pure(operation: Any) -> bool:
    """Django's schema operations only read the states they are given; RunPython runs project code,
    SeparateDatabaseAndState changes a copy of its from_state, and others' operations are unknown."""
    return type(operation).__module__.startswith(_DJANGO_OPERATIONS) and not isinstance(
        operation, RunPython | SeparateDatabaseAndState
    )


def _renames_fields(operation: Any) -> bool:
    """True when the operation's state change edits field objects in place (ProjectState.rename_field)."""
    if isinstance(operation, RenameField):
        return True
    if isinstance(operation, SeparateDatabaseAndState):
        return any(
            _renames_fields(op) for op in [*operation.state_operations, *operation.database_operations]
        )
    return False


def _detach_field_references(state: ProjectState) -> None:
    """Give `state` its own copies of the fields rename_field may edit (shared with recorded states)."""
    for model_state in state.models.values():
        for name, model_field in list(model_state.fields.items()):
            if (
                getattr(model_field, "remote_field", None) is not None
                or getattr(model_field, "from_fields", None)
                or getattr(model_field, "field_names", None)
            ):
                model_state.fields[name] = model_field.clone()


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
        self.applied_set = frozenset(self.loader.applied_migrations)
        self.start = cache.start(self.applied_set)

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
