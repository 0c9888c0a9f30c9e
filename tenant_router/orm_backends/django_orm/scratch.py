"""Drift: migrate an empty scratch database to exactly the migrations a tenant database has applied."""

from __future__ import annotations

from typing import Any

from django.db.migrations.recorder import MigrationRecorder

from ...errors import UnknownStateError
from ...record.orm_report import DatabaseRun, OrmReport
from ...record.report import MigrationReport
from .binding import pinned_databases
from .graph import Key, disk_graph, planner
from .migrate_command import clear_process_caches, migrate_connection
from .pinned import PinnedDatabases, open_wrapper
from .router import migration_routing


def targets_for(applied: set[Key]) -> list[tuple[str, str | None]]:
    """Per app, the one applied migration no other applied migration of the app follows (`applied`
    holds graph nodes only); an app with two such leaves has no plan leading to exactly this set:
    UnknownStateError."""
    graph = planner().loader.graph
    targets: list[tuple[str, str | None]] = []
    for app in sorted({app for app, _ in applied}):
        nodes = [k for k in applied if k[0] == app]
        leaves = [
            k for k in nodes if not any(c in applied for c in graph.node_map[k].children if c[0] == app)
        ]
        if len(leaves) != 1:
            raise UnknownStateError(f"app {app} has {len(leaves)} latest applied migrations")
        targets.append(leaves[0])
    return targets


def expanded(rows: list[Key]) -> set[Key]:
    """The applied set with squashes and what they replace both counted, for comparing histories.

    Rows of migrations not on disk (an app removed from INSTALLED_APPS) are left out, as `migrate`
    ignores them: their tables, if any, show up as tables outside the migrations."""
    graph = disk_graph()
    done = graph.applied(rows)
    for squashed, replaced in graph.replacements.items():
        if squashed in done:
            done.update(replaced)
    known = set(graph.order) | set(graph.replacements)
    known.update(key for replaced in graph.replacements.values() for key in replaced)
    return done & known


def migrate_scratch(
    manager: Any, db_config: dict[str, Any], alias: str, reserved: bool, applied: tuple[tuple[str, ...], ...]
) -> None:
    """Migrate the empty database `db_config` to `applied`, as `migrate` would under `alias`.

    Every query of the migrations and their signals stays on the scratch database: it is pinned under
    `alias`, and any other template alias of the project has no database.
    """
    rows = [(str(app), str(name)) for app, name in applied]
    wanted = expanded(rows)
    targets = targets_for(set(disk_graph().applied(rows)) & set(planner().loader.graph.nodes))
    connection = open_wrapper(db_config, alias)
    run = DatabaseRun(OrmReport(MigrationReport(), manager.orm_key), None, alias)
    pinned = PinnedDatabases("(drift scratch database)", {alias: connection}, lambda _alias: None)
    try:
        with pinned_databases(pinned), migration_routing(manager, alias if reserved else None):
            clear_process_caches()
            if targets:
                migrate_connection(connection, run, 0, None, targets)
            found = expanded([(a, n) for a, n in MigrationRecorder(connection).applied_migrations()])
    finally:
        connection.close()
        clear_process_caches()
    if found != wanted:
        extra = sorted(found - wanted) or sorted(wanted - found)
        raise UnknownStateError(
            f"its applied migrations are not a state `migrate` reaches (e.g. {extra[0][0]}.{extra[0][1]})"
        )
