"""Pre-flight: what each database has pending, read from its bookkeeping table before any migration.

Assistants describe how to read their bookkeeping table (`BookkeepingRead`); reads that name the same
physical database (a tenant's Django and Alembic tables often share one) go over one connection.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


@dataclass(frozen=True, slots=True)
class Inspection:
    """What one database still needs, as read from `django_migrations` / `alembic_version`."""

    pending: tuple[str, ...]  # steps not applied yet, in order (empty: up to date)
    current: str | None  # the latest step applied, for display

    @property
    def up_to_date(self) -> bool:
        """Nothing pending."""
        return not self.pending


@dataclass(frozen=True)
class BookkeepingRead:
    """How to read one database's bookkeeping rows over a raw DB-API connection."""

    identity: str  # the physical database (see database_identity); equal identities share a connection
    connect: Callable[[], Any]  # opens a raw DB-API connection (errors mean: unreachable)
    sql: str  # a query without parameters; an error running it means "no bookkeeping table yet"
    interpret: Callable[[Sequence[tuple[Any, ...]]], Inspection]  # rows ([] when the table is missing)


def database_identity(backend: str, host: str | None, port: Any, name: str, user: str | None) -> str:
    """One spelling per physical database, whatever the ORM: `postgresql://user@host:5432/name`."""
    backend = {"postgres": "postgresql", "mariadb": "mysql", "sqlite3": "sqlite"}.get(backend, backend)
    if backend == "sqlite":
        return f"sqlite:{os.path.abspath(name)}" if name not in ("", ":memory:") else f"sqlite:{id(name)}"
    port = int(port) if port not in (None, "") else DEFAULT_PORTS.get(backend, 0)
    host = host or "localhost"
    if host == "127.0.0.1":
        host = "localhost"
    return f"{backend}://{user or ''}@{host}:{port}/{name}"


def read_many(reads: Sequence[BookkeepingRead]) -> list[Inspection | BaseException]:
    """Run reads that share one identity over one connection; a connect failure fails them all."""
    try:
        conn = reads[0].connect()
    except Exception as exc:
        return [exc] * len(reads)
    results: list[Inspection | BaseException] = []
    try:
        for read in reads:
            cursor = conn.cursor()
            try:
                cursor.execute(read.sql)
                rows = list(cursor.fetchall())
            except Exception:
                rows = []  # the table does not exist yet
                try:
                    conn.rollback()  # PostgreSQL aborts the transaction on any error
                except Exception as exc:
                    results += [exc] * (len(reads) - len(results))
                    return results
            finally:
                cursor.close()
            try:
                results.append(read.interpret(rows))
            except Exception as exc:
                results.append(exc)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    return results
