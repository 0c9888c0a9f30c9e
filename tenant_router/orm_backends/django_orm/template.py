"""Provisioning: what decides a new Django database at head, and migrating an empty template to head."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import django
from django.apps import apps
from django.conf import settings

from ...record.orm_report import DatabaseRun, OrmReport
from ...record.report import MigrationReport
from .binding import pinned_databases
from .graph import planner
from .migrate_command import clear_process_caches, migrate_connection
from .pinned import PinnedDatabases, open_wrapper
from .router import migration_routing


def schema_digest(options: str) -> str:
    """sha256 of every migration file on disk (contents), the models post_migrate writes rows for
    (content types and permissions), INSTALLED_APPS, Django's version and the ORM's options."""
    digest = hashlib.sha256(f"{django.__version__}|{list(settings.INSTALLED_APPS)}|{options}".encode())
    graph = planner().loader.graph
    for key in sorted(graph.nodes):
        module = sys.modules.get(type(graph.nodes[key]).__module__)
        path = Path(getattr(module, "__file__", "") or "")
        digest.update(f"{key}\0".encode())
        digest.update(path.read_bytes() if path.is_file() else b"(no file)")
    for model in sorted(apps.get_models(), key=lambda m: m._meta.label):
        meta = model._meta
        digest.update(
            repr((meta.label, str(meta.verbose_name), meta.permissions, meta.default_permissions)).encode()
        )
    return digest.hexdigest()


def build_template(manager: Any, db_config: dict[str, Any], alias: str) -> None:
    """`migrate` on the empty database `db_config` under `alias`, every app to its latest migration, with
    no tenant bound: every query of the migrations and their signals stays on it (other aliases have no
    database)."""
    connection = open_wrapper(db_config, alias)
    run = DatabaseRun(OrmReport(MigrationReport(), manager.orm_key), None, alias)
    pinned = PinnedDatabases("(template database)", {alias: connection}, lambda _alias: None)
    try:
        with pinned_databases(pinned), migration_routing(manager, None):
            clear_process_caches()
            migrate_connection(connection, run)
    finally:
        connection.close()
        clear_process_caches()
