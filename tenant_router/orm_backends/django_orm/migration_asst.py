"""DjangoOrmMigrationAsst: what `manage.py migrate` does, per tenant database, as events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from importlib import import_module
from typing import Any

from django.apps import apps
from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.utils.module_loading import module_has_submodule

from ...context import tenant_context_bind
from ...errors import UsageError
from ...preflight import MAINTENANCE_DATABASES, BookkeepingRead, Inspection
from ...record.orm_report import DatabaseRun
from ...safety.lockwait import StepGuard, StepLimits
from ...safety.sessions import opened
from ..base import BaseOrmMigrationAsst, Capabilities
from ..base.migration_asst import position_of
from . import template
from .binding import install, pinned_databases
from .graph import disk_graph, planner, resolve_target, rolls_back_whole
from .manager import DjangoOrmManager
from .migrate_command import MigrationConflictError, clear_process_caches, migrate_connection
from .pinned import PinnedDatabases, open_wrapper
from .preflight import bookkeeping_read
from .router import migration_routing
from .scratch import migrate_scratch
from .states import StateCache

# MigrationConflictError, clear_process_caches and migrate_connection live in migrate_command.py now.
__all__ = [
    "DjangoOrmMigrationAsst",
    "MigrationConflictError",
    "clear_process_caches",
    "import_management_modules",
    "limited_steps",
    "migrate_connection",
]

_management_imported = False


def import_management_modules() -> None:
    """Import every app's `management` module once, as `migrate` does, so signal handlers connect."""
    global _management_imported
    if not _management_imported:
        for app_config in apps.get_app_configs():
            if module_has_submodule(app_config.module, "management"):
                import_module(".management", app_config.name)
        _management_imported = True


_loaded = False


def _load() -> None:
    global _loaded
    import_management_modules()
    disk_graph()
    planner()
    _loaded = True


def _note_session(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Every PostgreSQL connection a database's run opens is noted: an aborted run ends its backend."""
    if connection.vendor == "postgresql":
        opened(connection.connection)


class DjangoOrmMigrationAsst(BaseOrmMigrationAsst):
    """Runs Django's MigrationExecutor against each tenant database, like `manage.py migrate` would."""

    capabilities = Capabilities(inspects=True)  # per database; the pre-flight reads django_migrations
    LOCKS_ITS_OWN_CONNECTION = True  # the run lock is held on the connection that migrates

    def __init__(self, manager: DjangoOrmManager, *, verbosity: int = 0, share_states: bool = True) -> None:
        super().__init__(manager, verbosity=verbosity, share_states=share_states)
        install()  # from now on, in this process, the template aliases are never connected to
        connection_created.connect(_note_session, dispatch_uid="tenant_router.sessions")
        if not isinstance(verbosity, int):
            raise TypeError(f"verbosity must be an int, got {verbosity!r}")
        self.verbosity = verbosity  # passed to pre/post_migrate handlers, as `migrate -v` does
        # Rendered model states shared by databases that start alike (states.py); off: plain `migrate`.
        self.state_cache = StateCache() if share_states else None
        self.targets: list[tuple[str, str | None]] | None = None  # None: every app's latest migration

    def set_target(self, target: tuple[str, ...]) -> None:
        """`--target APP_LABEL MIGRATION` (or `zero`): forwards or backwards to that migration."""
        if len(target) != 2:
            raise UsageError(
                "--target for the Django ORM takes an app label and a migration name: --target shop 0003 "
                "(or --target shop zero)."
            )
        self.load_migrations()
        self.targets = [resolve_target(*target)]

    @property
    def django_manager(self) -> DjangoOrmManager:
        """The manager, typed."""
        assert isinstance(self.manager, DjangoOrmManager)
        return self.manager

    def prepare(self) -> None:
        """Read the migration graph from disk and connect the apps' signal handlers, once."""
        self.load_migrations()

    def load_migrations(self) -> None:
        """Import the migration files (and the apps' management modules) once, bound to a tenant.

        Migration files may read `django.db.connection` when imported (wagtail's search migrations
        read `connection.mysql_is_mariadb`, which connects; others pick operations from
        `connection.vendor`). `migrate` would answer from the project's only database; a fleet's
        files are imported once per process, so they are imported inside a binding to the first
        selected tenant that can be reached (the template is never connected to). A project whose
        tenants run different engines or versions gets the first tenant's answer, as Django would.
        """
        if _loaded:
            return
        manager = self.django_manager
        alias = manager.template_aliases[0] if manager.template_aliases else None
        candidates = [t for t in self.tenants() if alias and manager.tenant_db_config(t, alias)][:5]
        for tenant in candidates:
            try:
                with self._bound_to(tenant):
                    _load()
                return
            except DatabaseError:
                continue  # unreachable: its own row will say so; try the next one
        if candidates and alias and self._load_on_server(candidates[0], alias):
            return  # their databases do not exist yet (`create`): the server answered instead
        _load()  # no tenant reachable: unbound (a migration file that connects gets one clear error)

    def _load_on_server(self, tenant: str, alias: str) -> bool:
        """_load() with `alias` meaning the server of `tenant`'s database (its maintenance database)."""
        db_config = self.django_manager.tenant_db_config(tenant, alias) or {}
        engine = str(db_config.get("ENGINE", ""))
        backend = "postgresql" if "postg" in engine else "mysql" if "mysql" in engine else None
        if backend is None:
            return False
        maintenance = MAINTENANCE_DATABASES[backend]
        connection = open_wrapper(self.scratch_config(db_config, maintenance, {}), alias)
        try:
            with (
                tenant_context_bind(tenant),
                pinned_databases(PinnedDatabases(tenant, {alias: connection}, lambda _alias: None)),
            ):
                _load()
            return True
        except DatabaseError:
            return False
        finally:
            connection.close()

    @contextmanager
    def _bound_to(self, tenant: str) -> Iterator[None]:
        opener = partial(self.django_manager.tenant_connection, tenant)
        with tenant_context_bind(tenant), pinned_databases(PinnedDatabases(tenant, {}, opener)):
            yield

    def bookkeeping_read(self, tenant: str, alias: str, db_config: dict[str, Any]) -> BookkeepingRead:
        """`SELECT app, name FROM django_migrations` against the graph loaded once from disk."""
        return bookkeeping_read(db_config, self.targets)

    def read_position(
        self, tenant: str | None, alias: str, db_config: dict[str, Any], step: str | None = None
    ) -> Inspection | BaseException | None:
        """What the database holds now (a fresh read); with `step` (`shop.0003_x`), `current` names
        where that migration's app stands (`shop.0002_y`), not the last migration of any app."""
        app = step.partition(".")[0] if step and "." in step else None
        return position_of(bookkeeping_read(db_config, self.targets, app), self.NOTHING_APPLIED)

    def scratch_config(
        self, db_config: dict[str, Any], name: str | None, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        """Drift: the same settings, another NAME and the scratch connection overrides."""
        keys = ("USER", "PASSWORD", "HOST", "PORT")
        return {
            **db_config,
            **{k: overrides[k] for k in keys if k in overrides},
            "NAME": name or db_config["NAME"],
        }

    def migrate_scratch(
        self, db_config: dict[str, Any], alias: str, reserved: bool, applied: tuple[tuple[str, ...], ...]
    ) -> None:
        """Drift: `migrate` the empty scratch database to exactly the tenant's applied migrations."""
        self.load_migrations()
        migrate_scratch(self.django_manager, db_config, alias, reserved, applied)

    def schema_digest(self) -> str:
        """The contents of every migration file, the models post_migrate writes rows for, the options."""
        self.load_migrations()
        return template.schema_digest(repr((sorted(self.options.items()), dict(self.manager.options))))

    def build_template(self, db_config: dict[str, Any], alias: str) -> None:
        """`migrate` to the latest migrations on the empty template database, no tenant bound."""
        self.load_migrations()
        template.build_template(self.django_manager, db_config, alias)

    def step_rolled_back(self, step: str, db_config: dict[str, Any]) -> bool:
        """An atomic migration on PostgreSQL or SQLite is rolled back whole with a lost connection."""
        return rolls_back_whole(step, db_config)

    def migrate_database(self, run: DatabaseRun, db_config: dict[str, Any]) -> None:
        """Migrate one database as if it were the project's only one (a tenant's: under its alias name)."""
        self.load_migrations()
        manager = self.django_manager
        alias = run.alias or "default"
        if run.tenant is None:  # a reserved alias: Django's own connection; unrouted queries go there
            with manager.connection(alias) as connection, migration_routing(manager, alias):
                self._migrate(connection, run, alias, db_config)
            return
        tenant = run.tenant
        connection = open_wrapper(db_config, alias)  # the run's settings for this database
        pinned = PinnedDatabases(tenant, {alias: connection}, partial(manager.tenant_connection, tenant))
        try:
            with (
                tenant_context_bind(tenant),
                pinned_databases(pinned),
                migration_routing(manager, None),
            ):
                clear_process_caches(self.state_cache)  # historical models too: shared with the last one
                self._migrate(connection, run, alias, db_config)
        finally:
            connection.close()
            clear_process_caches()  # the next database empties the historical ones before it starts

    def _migrate(
        self, connection: BaseDatabaseWrapper, run: DatabaseRun, alias: str, db_config: dict[str, Any]
    ) -> None:
        def dbapi() -> Any:
            connection.ensure_connection()
            return connection.connection

        with (
            self.hold_run_lock(dbapi, run.tenant, alias, db_config),
            limited_steps(connection, run, self.limits),
        ):
            migrate_connection(connection, run, self.verbosity, self.state_cache, self.targets)


@contextmanager
def limited_steps(connection: BaseDatabaseWrapper, run: DatabaseRun, limits: StepLimits) -> Iterator[None]:
    """Run every migration step's statements on `connection` under `limits` (see lockwait.py)."""
    if not limits:
        yield
        return
    mariadb = connection.vendor == "mysql" and connection.mysql_is_mariadb
    guard = StepGuard(limits, "mariadb" if mariadb else connection.vendor, lambda: connection.connection, run)

    def guarded(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        guard.before(sql)
        result = execute(sql, params, many, context)
        guard.after(sql)
        return result

    with connection.execute_wrapper(guarded):
        yield
