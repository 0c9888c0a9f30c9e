"""DjangoOrmMigrationAsst: what `manage.py migrate` does, per tenant database, as events."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from importlib import import_module
from typing import Any

from django.apps import apps
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ModelState, ProjectState, StateApps
from django.utils.module_loading import module_has_submodule

from ...context import tenant_context_bind
from ...errors import TenantRouterError, UsageError
from ...preflight import BookkeepingRead
from ...record.report import DatabaseRun
from ...safety.lockwait import StepGuard, StepLimits
from ..base import BaseOrmMigrationAsst
from .binding import install, pinned_databases
from .graph import (
    disk_graph,
    latest_applied,
    planner,
    resolve_target,
    rolls_back_whole,
    step_name,
)
from .manager import DjangoOrmManager
from .pinned import PinnedDatabases, open_wrapper
from .post_migrate import REPAIR_STEP, post_migrate_incomplete
from .preflight import bookkeeping_read
from .router import migration_routing
from .states import ReplayingExecutor, StartState, StateCache

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


def clear_process_caches(cache: StateCache | None = None) -> None:
    """Drop per-process caches that hold one database's ids: content types (of the real models and of
    the historical ones the shared states rendered) and sites."""
    if apps.is_installed("django.contrib.contenttypes"):
        from django.contrib.contenttypes.models import ContentType

        ContentType.objects.clear_cache()
    if apps.is_installed("django.contrib.sites"):
        from django.contrib.sites.models import Site

        Site.objects.clear_cache()
    if cache is not None:
        cache.clear_caches()


class MigrationConflictError(TenantRouterError):
    """The migration graph has conflicting leaves in one app (run makemigrations --merge)."""


class DjangoOrmMigrationAsst(BaseOrmMigrationAsst):
    """Runs Django's MigrationExecutor against each tenant database, like `manage.py migrate` would."""

    LOCKS_ITS_OWN_CONNECTION = True  # the run lock is held on the connection that migrates

    def __init__(self, manager: DjangoOrmManager, *, verbosity: int = 0, share_states: bool = True) -> None:
        super().__init__(manager, verbosity=verbosity, share_states=share_states)
        install()  # from now on, in this process, the template aliases are never connected to
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
        _load()  # no tenant reachable: unbound (a migration file that connects gets one clear error)

    @contextmanager
    def _bound_to(self, tenant: str) -> Iterator[None]:
        opener = partial(self.django_manager.tenant_connection, tenant)
        with tenant_context_bind(tenant), pinned_databases(PinnedDatabases(tenant, {}, opener)):
            yield

    def graph_fingerprint(self) -> str:
        """A digest of the migration graph on disk: every node in plan order and what it replaces."""
        self.load_migrations()
        graph = disk_graph()
        text = repr((graph.order, sorted(graph.replacements.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def bookkeeping_read(self, tenant: str, alias: str, db_config: dict[str, Any]) -> BookkeepingRead:
        """`SELECT app, name FROM django_migrations` against the graph loaded once from disk."""
        return bookkeeping_read(db_config, self.targets)

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
        from .scratch import migrate_scratch

        self.load_migrations()
        migrate_scratch(self.django_manager, db_config, alias, reserved, applied)

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


def migrate_connection(
    connection: BaseDatabaseWrapper,
    run: DatabaseRun,
    verbosity: int = 0,
    cache: StateCache | None = None,
    targets: list[tuple[str, str | None]] | None = None,
) -> None:
    """The `migrate` command on one connection: every app to its latest migration, or to `targets`.

    With a StateCache, rendered model states are shared with the databases that started from the same
    applied migrations (see states.py); without one, this is `migrate` step for step.
    """

    def progress(action: str, migration: Any = None, fake: bool = False) -> None:
        if action in ("apply_start", "unapply_start"):
            run.step_started(step_name(migration, action == "unapply_start"))
        elif action in ("apply_success", "unapply_success"):
            run.step_applied(step_name(migration, action == "unapply_success"))

    connection.prepare_database()
    executor: MigrationExecutor
    if cache is not None:
        executor = ReplayingExecutor(connection, progress, cache)
        executor.check_consistent_history()
        start: StartState | None = executor.start
    else:
        executor, start = MigrationExecutor(connection, progress), None
        executor.loader.check_consistent_history(connection)
    conflicts = executor.loader.detect_conflicts()
    if conflicts:
        names = "; ".join(f"{app}: {', '.join(sorted(n))}" for app, n in sorted(conflicts.items()))
        raise MigrationConflictError(
            f"Conflicting migrations ({names}).", hint="Run `manage.py makemigrations --merge`."
        )
    latest = targets is None  # not a --target run
    targets = targets or executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    applied = list(executor.loader.applied_migrations)
    current = latest_applied(applied)
    # Nothing pending, but an earlier post_migrate did not complete: emit the signals again, as
    # `migrate` would (post_migrate.py).
    repair = not plan and latest and post_migrate_incomplete(connection)
    run.planned([step_name(m, backwards) for m, backwards in plan] + [REPAIR_STEP] * repair, current)
    if not plan and not repair:
        return  # up to date: nothing to run, nothing to signal
    out = io.StringIO()
    if start is not None and start.pre_state is not None:
        pre_migrate_state = start.pre_state
    else:
        pre_migrate_state = executor._create_project_state(with_applied_migrations=True)
        if start is not None:
            start.pre_state = pre_migrate_state  # shared from now on: never mutated
    emit_pre_migrate_signal(
        verbosity, False, connection.alias, stdout=out, apps=pre_migrate_state.apps, plan=plan
    )
    # The executor must not change the state it starts from: Django's `migrate` passes a clone; the
    # replaying executor clones on its own whenever it has to change one.
    initial = pre_migrate_state if start is not None else pre_migrate_state.clone()
    try:
        post_migrate_state = executor.migrate(
            targets, plan=plan, state=initial, fake=False, fake_initial=False
        )
    except BaseException:
        if cache is not None and isinstance(executor, ReplayingExecutor):
            cache.discard(executor.applied_set)  # the next database records its states afresh
        raise
    if start is not None and start.post_apps is not None:
        post_migrate_apps = start.post_apps
    else:
        post_migrate_apps = render_post_migrate_apps(
            post_migrate_state.clone() if start is not None else post_migrate_state
        )
        if start is not None:
            start.post_apps = post_migrate_apps
    if repair:
        run.step_started(REPAIR_STEP)
    emit_post_migrate_signal(
        verbosity, False, connection.alias, stdout=out, apps=post_migrate_apps, plan=plan
    )
    if repair:
        run.step_applied(REPAIR_STEP)
    if any(backwards for _, backwards in plan):  # rolled back: say where the database is now
        left = list(MigrationRecorder(connection).applied_migrations())
        run.current = latest_applied(left) or "zero"


def render_post_migrate_apps(post_migrate_state: ProjectState) -> StateApps:
    """As `migrate` does: re-render real apps' models with their final relations for post_migrate."""
    post_migrate_state.clear_delayed_apps_cache()
    post_migrate_apps = post_migrate_state.apps
    with post_migrate_apps.bulk_update():
        model_keys = []
        for model_state in post_migrate_apps.real_models:
            model_key = model_state.app_label, model_state.name_lower
            model_keys.append(model_key)
            post_migrate_apps.unregister_model(*model_key)
    post_migrate_apps.render_multiple([ModelState.from_model(apps.get_model(*model)) for model in model_keys])
    return post_migrate_apps
