"""Tenant sites for the in-process tests: tenant configurations for tests/trsite, pointed at real databases.

The Django of the test session runs tests/trsite.settings (conftest sets it up); a TenantSite writes a
tenant_config.json whose tenants are SQLite files or databases on a real server, and `activate` points
the settings' TENANT_ROUTER_TENANT_CONFIG at it. The CLI runs in-process through TenantSite.invoke.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connections
from django.test.utils import override_settings
from typer.testing import CliRunner

from support.servers import Server
from tenant_router_cli.app import app

SETTINGS = "trsite.settings"


@dataclass
class Database:
    """One tenant database as the tests see it."""

    tenant: str
    entry: dict[str, Any]  # its tenant-config entry for django_orm.default
    server: Server | None = None
    path: Path | None = None  # SQLite file

    @property
    def name(self) -> str:
        return str(self.entry.get("NAME", ""))

    def connect(self):  # type: ignore[no-untyped-def]
        """A DB-API connection to this database (not through Django)."""
        if self.path is not None:
            return sqlite3.connect(self.path)
        assert self.server is not None
        p = self.server.parts
        if self.server.kind == "postgres":
            import psycopg

            return psycopg.connect(
                host=p["host"], port=p["port"], user=p["user"], dbname=self.name, autocommit=True
            )
        import MySQLdb

        return MySQLdb.connect(
            host=p["host"], port=int(p["port"]), user=p["user"], password=p["password"], db=self.name
        )

    def query(self, sql: str) -> list[tuple]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql)
            return list(cur.fetchall())
        finally:
            conn.close()

    def execute(self, sql: str) -> None:
        conn = self.connect()
        try:
            conn.cursor().execute(sql)
            conn.commit()
        finally:
            conn.close()

    def table_names(self) -> set[str]:
        """Tables present now (empty for a database file that does not exist)."""
        if self.path is not None:
            if not self.path.exists():
                return set()
            return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type='table'")} - {
                "sqlite_sequence"
            }
        if self.server and self.server.kind == "postgres":
            return {r[0] for r in self.query("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        return {r[0] for r in self.query("SHOW TABLES")}

    def applied(self) -> list[tuple[str, str]]:
        """(app, name) rows of django_migrations."""
        if "django_migrations" not in self.table_names():
            return []
        return sorted((a, n) for a, n in self.query("SELECT app, name FROM django_migrations"))


@dataclass
class TenantSite:
    """A tenant configuration for the in-process settings, pointed at real databases."""

    tmp: Path
    databases: list[Database] = field(default_factory=list)
    extra_tenants: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.tmp / "tenant_config.json"

    @property
    def settings_module(self) -> str:
        return SETTINGS

    def write(self) -> Path:
        tenants = {
            db.tenant: {"clinic": {"orm_config": {"django_orm": {"default": db.entry}}}}
            for db in self.databases
        }
        tenants.update(self.extra_tenants)
        self.config_path.write_text(json.dumps({"tenant_config": tenants}, indent=2))
        return self.config_path

    def db(self, tenant: str) -> Database:
        return next(d for d in self.databases if d.tenant == tenant)

    def invoke(self, *args: str) -> Any:
        """Run the CLI in-process (CliRunner), stdout and stderr apart."""
        self.write()
        return CliRunner().invoke(app, [*args], catch_exceptions=False)


def sqlite_site(tmp: Path, count: int = 3) -> TenantSite:
    """A site of `count` SQLite tenants (files in `tmp`, not created yet)."""
    site = TenantSite(tmp)
    for i in range(1, count + 1):
        path = tmp / f"tenant-{i}.sqlite3"
        site.databases.append(Database(f"tenant-{i}", {"NAME": path.name}, path=path))
    return site


def activate(site: TenantSite) -> Iterator[TenantSite]:
    """Write the site and point TENANT_ROUTER_TENANT_CONFIG at it while the generator is open."""
    path = site.write()
    with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(path)):
        yield site
    connections.close_all()


def server_site(tmp: Path, server: Server, names: list[str]) -> TenantSite:
    """A site whose tenants are the existing databases `names` on `server`."""
    site = TenantSite(tmp)
    for i, name in enumerate(names, 1):
        site.databases.append(Database(f"tenant-{i}", server.django_settings(name), server=server))
    return site
