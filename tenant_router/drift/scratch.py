"""Drift's scratch databases on a server, and the ones a killed drift left behind.

Each scratch database is held, from before it is created until after it is dropped, by a session lock of
its creator (PostgreSQL: an advisory lock taken in the maintenance database; MariaDB: GET_LOCK). A lock
dies with its session, so a scratch database whose lock anyone can take was left by a drift run that was
killed (SIGKILL, a lost machine): the next drift on that server drops it and says so. One whose lock is
held belongs to a drift still running, and is left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from typing import Any

PG_LOCK_CLASS = 0x74726473  # "trds": the first key of drift's advisory locks (provisioning uses another)


class ScratchServer:
    """One autocommit connection to a server's maintenance database: creates, holds and drops scratch
    databases named `<prefix>_<token>`."""

    def __init__(self, conn: Any, backend: str, prefix: str) -> None:
        self.conn, self.backend, self.prefix = conn, backend, prefix

    def _one(self, sql: str, params: tuple[Any, ...] | None = None) -> Any:
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, params)
            row = cursor.fetchone() if cursor.description else None
            return row[0] if row else None
        finally:
            cursor.close()

    def _lock_args(self, name: str) -> tuple[str, str, tuple[Any, ...]]:
        digest = hashlib.sha256(f"drift-scratch:{name}".encode()).hexdigest()
        if self.backend == "postgresql":
            keys = (PG_LOCK_CLASS, int(digest[:8], 16) - 2**31)
            return "SELECT pg_try_advisory_lock(%s, %s)", "SELECT pg_advisory_unlock(%s, %s)", keys
        key = "tenant_router:drift:" + digest[:40]
        return "SELECT GET_LOCK(%s, 0)", "SELECT RELEASE_LOCK(%s)", (key,)

    def try_hold(self, name: str) -> bool:
        """Take `name`'s lock if nobody holds it (never waits)."""
        take, _, args = self._lock_args(name)
        return self._one(take, args) in (True, 1)

    def release(self, name: str) -> None:
        _, give, args = self._lock_args(name)
        with contextlib.suppress(Exception):  # a lost session has let go already
            self._one(give, args)

    @contextlib.contextmanager
    def held(self, name: str) -> Iterator[None]:
        """Hold `name`'s lock for the block (it is new: nobody else can hold it)."""
        if not self.try_hold(name):
            raise RuntimeError(f"the lock of new scratch database {name!r} is taken")
        try:
            yield
        finally:
            self.release(name)

    def leftovers(self) -> list[str]:
        """Databases of this server named exactly as drift names its scratch databases
        (`<prefix>_<12 hex digits>`): a tenant's `tr_drift_reports` is never one."""
        params: tuple[Any, ...] = (self.prefix + "_",)
        if self.backend == "postgresql":
            sql = "SELECT datname FROM pg_database WHERE starts_with(datname, %s)"
        else:
            sql = (
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE BINARY LEFT(SCHEMA_NAME, %s) = %s"
            )
            params = (len(self.prefix) + 1, self.prefix + "_")
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, params)
            return sorted(row[0] for row in cursor.fetchall() if self.named(row[0]))
        finally:
            cursor.close()

    def named(self, name: str) -> bool:
        """Whether `name` is one drift would give a scratch database (see ExpectedSchemas._scratch)."""
        return re.fullmatch(re.escape(self.prefix) + r"_[0-9a-f]{12}", name) is not None

    def sweep(self, drop: Any) -> list[str]:
        """Drop every scratch database whose creator is gone (`drop(name)`); their names."""
        swept = []
        for name in self.leftovers():
            if not self.try_hold(name):
                continue  # a drift still running holds it
            try:
                drop(name)
                swept.append(name)
            finally:
                self.release(name)
        return swept
