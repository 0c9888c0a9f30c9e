"""Pre-flight for Django: applied rows read over a raw connection, planned with the graph from disk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections
from django.db.utils import load_backend

from ...preflight import BookkeepingRead, Inspection, database_identity, server_label
from .graph import disk_graph, irreversible_steps, latest_applied, plan_for, step_name, target_label
from .post_migrate import follow_ups


def raw_connector(db_config: dict[str, Any]) -> tuple[Callable[[], Any], str, str]:
    """(open a raw driver connection, the database identity, its server as configured) for a DATABASES
    entry.

    No Django connection wrapper, no session set-up queries: just the driver's connect.
    """
    settings = connections.configure_settings({"default": dict(db_config)})["default"]
    wrapper = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, "tenant_router:preflight")
    backend = settings["ENGINE"].rsplit(".", 1)[-1]
    identity = database_identity(
        backend, settings.get("HOST"), settings.get("PORT"), str(settings.get("NAME")), settings.get("USER")
    )
    server = server_label(backend, settings.get("HOST"), settings.get("PORT"), settings.get("USER"))
    return (lambda: wrapper.get_new_connection(wrapper.get_connection_params())), identity, server


def bookkeeping_read(
    db_config: dict[str, Any], targets: list[tuple[str, str | None]] | None = None, app: str | None = None
) -> BookkeepingRead:
    """Read `django_migrations` and plan from it, as `migrate` would, with the graph read from disk.

    `app`: `current` is that app's latest migration (`shop zero`: none), not the latest of any app."""
    connect, identity, server = raw_connector(db_config)

    def interpret(rows: Sequence[tuple[Any, ...]]) -> Inspection:
        applied = [(str(app), str(name)) for app, name in rows]
        current = latest_applied(applied)
        if app is not None:
            current = latest_applied([row for row in applied if row[0] == app]) or f"{app} zero"
        if targets is None:
            pending = disk_graph().pending(applied)
            return Inspection(tuple(f"{app}.{name}" for app, name in pending), current)
        plan = plan_for(applied, targets)
        steps = tuple(step_name(m, backwards) for m, backwards in plan)
        return Inspection(steps, current if steps else target_label(targets), irreversible_steps(plan))

    return BookkeepingRead(
        identity,
        connect,
        "SELECT app, name FROM django_migrations ORDER BY id",
        interpret,
        follow_ups() if targets is None else (),  # did the last post_migrate complete
        server,
    )
