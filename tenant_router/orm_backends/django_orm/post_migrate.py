"""Did the last post_migrate of a database complete? Its content types and permissions tell.

`manage.py migrate` emits post_migrate on every run, so a handler that failed once (content types and
permissions never created) is repaired by the next run. tenant-router reports a database with nothing
pending as up to date without emitting anything; so the pre-flight also reads, over the same
connection, the content types and permissions the migrated models need, and a database missing some
gets a post_migrate-only pass (`post_migrate (repair)`). The evidence lives in the database itself, so
the next run repairs it from any machine, journal or not. Handlers of the project's own that leave no
such trace cannot be checked this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.apps import apps
from django.conf import settings

from ...preflight import FollowUp, Inspection
from .graph import planner

#: The step a post_migrate-only pass is reported as (it is no migration: `current` does not change).
REPAIR_STEP = "post_migrate (repair)"
CONTENT_TYPES_SQL = "SELECT app_label, model FROM django_content_type"
PERMISSIONS_SQL = (
    "SELECT ct.app_label, p.codename FROM auth_permission p "
    "JOIN django_content_type ct ON ct.id = p.content_type_id"
)

Pair = tuple[str, str]


@cache
def expected() -> tuple[frozenset[Pair], frozenset[Pair]]:
    """(app_label, model) content types and (app_label, codename) permissions that post_migrate creates
    for the models of the migrations' final state (models not in any migration yet get none)."""
    state = planner().loader.project_state()
    types: set[Pair] = set()
    perms: set[Pair] = set()
    for (app_label, model_name), model in state.models.items():
        swappable = model.options.get("swappable")
        if swappable and str(getattr(settings, swappable, "")).lower() != f"{app_label}.{model_name}":
            continue  # swapped out (a custom user model): Django creates nothing for it
        try:
            app_config = apps.get_app_config(app_label)
        except LookupError:  # migrations of an app no longer installed
            continue
        if app_config.models_module is None:  # post_migrate is not sent for it
            continue
        types.add((app_label, model_name))
        for action in model.options.get("default_permissions", ("add", "change", "delete", "view")):
            perms.add((app_label, f"{action}_{model_name}"))
        perms.update((app_label, codename) for codename, _ in model.options.get("permissions", ()))
    return frozenset(types), frozenset(perms)


def _pairs(rows: Sequence[tuple[Any, ...]]) -> set[Pair]:
    return {(str(a), str(b)) for a, b in rows}


def _amend(kind: int) -> Any:
    def amend(inspection: Inspection, rows: Sequence[tuple[Any, ...]] | None) -> Inspection:
        if rows is None or inspection.pending:  # not kept in this database, or already repairing
            return inspection
        if expected()[kind] - _pairs(rows):
            return Inspection((REPAIR_STEP,), inspection.current)
        return inspection

    return amend


def follow_ups() -> tuple[FollowUp, ...]:
    """The pre-flight's extra reads (contenttypes and auth installed), cheapest first."""
    found = []
    if apps.is_installed("django.contrib.contenttypes"):
        found.append(FollowUp(CONTENT_TYPES_SQL, _amend(0)))
        if apps.is_installed("django.contrib.auth"):
            found.append(FollowUp(PERMISSIONS_SQL, _amend(1)))
    return tuple(found)


def post_migrate_incomplete(connection: Any) -> bool:
    """The same check over a Django connection (the migrating one), for a database with nothing pending."""
    for follow_up in follow_ups():
        try:
            with connection.cursor() as cursor:
                cursor.execute(follow_up.sql)
                rows: list[tuple[Any, ...]] | None = list(cursor.fetchall())
        except Exception:
            rows = None
            if not connection.get_autocommit():
                connection.rollback()
        if follow_up.amend(Inspection((), None), rows).pending:
            return True
    return False
