"""The `migrate` command on one Django connection, reporting each step; and the per-process caches
cleared around it."""

from __future__ import annotations

import io
from typing import Any

from django.apps import apps
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ModelState, ProjectState, StateApps

from ...errors import TenantRouterError
from ...record.orm_report import DatabaseRun
from .graph import latest_applied, step_name, target_label
from .post_migrate import REPAIR_STEP, post_migrate_incomplete
from .replay import ReplayingExecutor
from .states import StartState, StateCache


class MigrationConflictError(TenantRouterError):
    """The migration graph has conflicting leaves in one app (run makemigrations --merge)."""


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
    # where it stands: at a --target already reached, that target; else the latest migration applied
    current = target_label(targets) if not latest and not plan else latest_applied(applied)
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
    rolled_back = {m.app_label for m, backwards in plan if backwards}
    if rolled_back:  # where the apps that moved now are: the target, not another app's last row
        reached = target_label([(app, name) for app, name in targets if app in rolled_back])
        run.current = (
            reached or latest_applied(list(MigrationRecorder(connection).applied_migrations())) or "zero"
        )


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
