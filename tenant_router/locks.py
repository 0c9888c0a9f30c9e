"""One run at a time per database: PostgreSQL advisory locks, MariaDB/MySQL GET_LOCK, a file lock for SQLite.

The lock is held on the connection that migrates the database and names the *physical* database, as
the server knows it, never as it was reached: whichever role, host alias, URL or parts two runs use,
they take one lock. On PostgreSQL an advisory lock is scoped to the database the session is connected
to, so the key is a constant of this tool plus that database's oid read from the server; MariaDB/MySQL
locks are server-wide, so the name is derived from `DATABASE()` read from the server; a SQLite
database is its resolved real path.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from filelock import FileLock, Timeout

from .cancel import StopBeforeStart, stop_requested

POLL_SECONDS = 0.2

#: PostgreSQL: the first key of the two-key advisory lock (the second is the database's oid). A
#: two-key lock never collides with an application's one-key (bigint) advisory locks.
PG_LOCK_CLASS = 0x74726C6B  # "trlk"
_PG_KEYS = f"{PG_LOCK_CLASS}, (SELECT oid::int4 FROM pg_database WHERE datname = current_database())"
#: MariaDB/MySQL: GET_LOCK names are server-wide and at most 64 characters.
_MYSQL_NAME = "CONCAT('tenant_router:', LEFT(SHA2(DATABASE(), 256), 40))"

#: The statements that try, and release, the run lock of the database a connection is connected to.
TRY_LOCK_SQL = {
    "postgresql": f"SELECT pg_try_advisory_lock({_PG_KEYS})",
    "mysql": f"SELECT GET_LOCK({_MYSQL_NAME}, 0)",
}
UNLOCK_SQL = {
    "postgresql": f"SELECT pg_advisory_unlock({_PG_KEYS})",
    "mysql": f"SELECT RELEASE_LOCK({_MYSQL_NAME})",
}


def _kind(identity: str) -> str:
    return identity.split(":", 1)[0]


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
        lock = FileLock(f"{os.path.realpath(identity.removeprefix('sqlite:'))}.tenant-router.lock")
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
    held = bool(_scalar(conn, TRY_LOCK_SQL[_kind(identity)]))
    _end_transaction(conn)
    return held


def _release(conn: Any, identity: str) -> None:
    _scalar(conn, UNLOCK_SQL[_kind(identity)])
    _end_transaction(conn)


def _end_transaction(conn: Any) -> None:
    """Session-level locks outlive transactions: do not sit idle in one."""
    with contextlib.suppress(Exception):
        conn.commit()
