"""One run at a time per database: PostgreSQL advisory locks, MariaDB/MySQL GET_LOCK, a file lock for SQLite.

The lock is held on its own connection while the database is migrated, keyed by the database's
identity, so two runs (on one machine or many) never migrate one database at the same time.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from filelock import FileLock, Timeout

from .cancel import StopBeforeStart, stop_requested

POLL_SECONDS = 0.2


def _key(identity: str) -> int:
    """A signed 64-bit advisory lock key for PostgreSQL."""
    return int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big", signed=True)


def _name(identity: str) -> str:
    """A GET_LOCK name (at most 64 characters)."""
    return "tenant_router:" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def _scalar(conn: Any, sql: str) -> Any:
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        row = cursor.fetchone()
        return row[0] if row else None
    finally:
        cursor.close()


@contextlib.contextmanager
def database_lock(
    identity: str, connect: Callable[[], Any], timeout: float, *, conn: Callable[[], Any] | None = None
) -> Iterator[bool]:
    """Hold the run lock of one database for the block; yields False when another run holds it.

    `conn`: a function opening (or returning) the DB-API connection to hold the lock on, which stays
    open afterwards; it is called only for server databases (a SQLite file lock needs no connection, and
    connecting would create the file). Without it a connection of its own is opened and closed. The wait polls, so a stop request (Ctrl-C, SIGTERM)
    ends it at once with StopAtBoundary, nothing done.
    """
    if identity.startswith("sqlite:"):
        lock = FileLock(f"{identity.removeprefix('sqlite:')}.tenant-router.lock")
        held = _wait(lambda: _try_file(lock), timeout)
        try:
            yield held
        finally:
            if held:
                lock.release()
        return
    if not identity.startswith(("postgresql://", "mysql://")):
        yield True  # no lock primitive known for this database
        return
    own = conn is None
    dbapi = connect() if conn is None else conn()
    try:
        held = _wait(lambda: _try_server(dbapi, identity), timeout)
        try:
            yield held
        finally:
            if held:
                with contextlib.suppress(Exception):
                    _release(dbapi, identity)
    finally:
        if own:
            with contextlib.suppress(Exception):
                dbapi.close()


def _wait(try_once: Callable[[], bool], timeout: float) -> bool:
    """Try until held, `timeout` seconds have passed, or the run is asked to stop."""
    deadline = time.monotonic() + max(timeout, 0)
    while True:
        if stop_requested():  # checked before every try: a lock freed after the stop is not taken
            raise StopBeforeStart("interrupted before it started")
        if try_once():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def _try_file(lock: FileLock) -> bool:
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True


def _try_server(conn: Any, identity: str) -> bool:
    if identity.startswith("mysql://"):
        return bool(_scalar(conn, f"SELECT GET_LOCK('{_name(identity)}', 0)"))
    held = bool(_scalar(conn, f"SELECT pg_try_advisory_lock({_key(identity)})"))
    _end_transaction(conn)
    return held


def _release(conn: Any, identity: str) -> None:
    if identity.startswith("mysql://"):
        _scalar(conn, f"SELECT RELEASE_LOCK('{_name(identity)}')")
    else:
        _scalar(conn, f"SELECT pg_advisory_unlock({_key(identity)})")
        _end_transaction(conn)


def _end_transaction(conn: Any) -> None:
    """Session-level advisory locks outlive transactions: do not sit idle in one."""
    with contextlib.suppress(Exception):
        conn.commit()
