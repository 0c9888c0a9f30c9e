"""Fixtures: Django started once with tests/trsite, tenant sites of real SQLite/PostgreSQL/MariaDB databases."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "clinic"
for path in (str(EXAMPLE), str(Path(__file__).resolve().parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

os.environ["DJANGO_SETTINGS_MODULE"] = "trsite.settings"
os.environ.pop("NO_COLOR", None)

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from servers import MYSQL, POSTGRES, Server, require  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from tenant_router_cli.app import app  # noqa: E402

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
    site = TenantSite(tmp)
    for i in range(1, count + 1):
        path = tmp / f"tenant-{i}.sqlite3"
        site.databases.append(Database(f"tenant-{i}", {"NAME": path.name}, path=path))
    return site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[TenantSite]:
    """Three SQLite tenants; TENANT_ROUTER_TENANT_CONFIG points at their configuration."""
    yield from _activate(sqlite_site(tmp_path))


def _activate(site: TenantSite) -> Iterator[TenantSite]:
    path = site.write()
    with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(path)):
        yield site
    connections.close_all()


def server_site(tmp: Path, server: Server, names: list[str]) -> TenantSite:
    site = TenantSite(tmp)
    for i, name in enumerate(names, 1):
        site.databases.append(Database(f"tenant-{i}", server.django_settings(name), server=server))
    return site


@pytest.fixture(params=["postgres", "mysql"])
def server(request: pytest.FixtureRequest) -> Server:
    """Each real database server in turn."""
    return require(POSTGRES if request.param == "postgres" else MYSQL)


@pytest.fixture
def server_site_factory(tmp_path: Path, server: Server) -> Iterator[Any]:
    """Make a site of `count` fresh databases on the current server; dropped afterwards."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def make(count: int = 2) -> TenantSite:
            names = stack.enter_context(server.databases(count, prefix="trt"))
            site = server_site(tmp_path, server, names)
            gen = _activate(site)
            stack.callback(lambda: next(gen, None))
            return next(gen)

        yield make
        connections.close_all()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
