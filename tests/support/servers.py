"""Real database servers for tests: unique databases created per test and dropped afterwards.

PostgreSQL and MariaDB/MySQL are reached through TENANT_ROUTER_TEST_POSTGRES and
TENANT_ROUTER_TEST_MYSQL (URLs; defaults: the local servers with trust/empty-password auth).
When a server is unreachable its tests are skipped locally, and fail under CI=true.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

POSTGRES_URL = os.environ.get("TENANT_ROUTER_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("TENANT_ROUTER_TEST_MYSQL", "mysql://root@127.0.0.1:3306/mysql")


@dataclass(frozen=True)
class Server:
    """One database server: how to reach it and how to make a database on it."""

    kind: str  # "postgres" or "mysql"
    url: str

    @property
    def parts(self) -> dict[str, str]:
        u = urlsplit(self.url)
        return {
            "host": u.hostname or "127.0.0.1",
            "port": str(u.port or (5432 if self.kind == "postgres" else 3306)),
            "user": u.username or "",
            "password": u.password or "",
            "name": u.path.lstrip("/"),
        }

    def admin(self):  # type: ignore[no-untyped-def]
        """An autocommit DB-API connection to the server's admin database."""
        p = self.parts
        if self.kind == "postgres":
            import psycopg

            return psycopg.connect(
                host=p["host"], port=p["port"], user=p["user"], password=p["password"] or None,
                dbname=p["name"] or "postgres", autocommit=True, connect_timeout=5,
            )  # fmt: skip
        import MySQLdb

        conn = MySQLdb.connect(
            host=p["host"], port=int(p["port"]), user=p["user"], password=p["password"], connect_timeout=5
        )
        conn.autocommit(True)
        return conn

    def execute(self, sql: str) -> None:
        """Run one admin statement."""
        conn = self.admin()
        try:
            cur = conn.cursor()
            cur.execute(sql)
        finally:
            conn.close()

    def reachable(self) -> str | None:
        """None when the server answers, else why not."""
        try:
            self.admin().close()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def django_settings(self, name: str, *, user: str | None = None, password: str | None = None) -> dict:
        """A DATABASES entry for database `name` on this server."""
        p = self.parts
        return {
            "ENGINE": "django.db.backends.postgresql"
            if self.kind == "postgres"
            else "django.db.backends.mysql",
            "NAME": name,
            "USER": user if user is not None else p["user"],
            "PASSWORD": password if password is not None else p["password"],
            "HOST": p["host"],
            "PORT": p["port"],
        }

    def sqlalchemy_url(self, name: str, *, user: str | None = None, password: str | None = None) -> str:
        """A SQLAlchemy URL for database `name` (psycopg 3 / mysqlclient drivers)."""
        p = self.parts
        user = user if user is not None else p["user"]
        password = password if password is not None else p["password"]
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        scheme = "postgresql+psycopg" if self.kind == "postgres" else "mysql+mysqldb"
        return f"{scheme}://{auth}@{p['host']}:{p['port']}/{name}"

    def create_database(self, name: str) -> None:
        """CREATE DATABASE name."""
        self.execute(f'CREATE DATABASE "{name}"' if self.kind == "postgres" else f"CREATE DATABASE `{name}`")

    def drop_database(self, name: str) -> None:
        """DROP DATABASE name, even with sessions still open on it."""
        if self.kind == "postgres":
            self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def named(self, prefix: str) -> list[str]:
        """The databases whose name starts with `prefix`."""
        sql = (
            f"SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'"
            if self.kind == "postgres"
            else f"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '{prefix}%'"
        )
        conn = self.admin()
        try:
            cursor = conn.cursor()
            cursor.execute(sql)
            return [row[0] for row in cursor.fetchall()]
        finally:
            conn.close()

    @contextmanager
    def databases(self, count: int, prefix: str = "tr") -> Iterator[list[str]]:
        """Create `count` uniquely named empty databases; drop them afterwards."""
        token = uuid.uuid4().hex[:10]
        names = [f"{prefix}_{token}_{i}" for i in range(count)]
        try:
            for name in names:
                self.create_database(name)
            yield names
        finally:
            for name in names:
                self.drop_database(name)

    @contextmanager
    def user(self, password: str) -> Iterator[str]:
        """A throw-away login with `password` and rights on every database; dropped afterwards."""
        name = f"tr_user_{uuid.uuid4().hex[:8]}"
        literal = password.replace("'", "''")
        if self.kind == "postgres":
            self.execute(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{literal}'")
        else:
            self.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{literal}'")
            self.execute(f"CREATE USER '{name}'@'localhost' IDENTIFIED BY '{literal}'")
            self.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{name}'@'%'")
            self.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{name}'@'localhost'")
        try:
            yield name
        finally:
            if self.kind == "postgres":
                self.execute(f"DROP ROLE IF EXISTS {name}")
            else:
                self.execute(f"DROP USER IF EXISTS '{name}'@'%'")
                self.execute(f"DROP USER IF EXISTS '{name}'@'localhost'")


def require(server: Server) -> Server:
    """Skip (locally) or fail (under CI) when the server is unreachable."""
    problem = server.reachable()
    if problem:
        message = (
            f"{server.kind} server at {server.parts['host']}:{server.parts['port']} unreachable: {problem}"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return server


@contextmanager
def pg_roles(count: int) -> Iterator[list[str]]:
    """Throw-away PostgreSQL login roles (superusers: they create tables in public), dropped afterwards."""
    names = [f"tr_role_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    try:
        for name in names:
            POSTGRES.execute(f"CREATE ROLE {name} LOGIN SUPERUSER")
        yield names
    finally:
        for name in names:
            POSTGRES.execute(f"DROP ROLE IF EXISTS {name}")


def pg_query(name: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one statement on database `name` of the local PostgreSQL server."""
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql)]


POSTGRES = Server("postgres", POSTGRES_URL)
MYSQL = Server("mysql", MYSQL_URL)
