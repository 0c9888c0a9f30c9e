"""One run at a time per database: PostgreSQL advisory locks, MariaDB/MySQL GET_LOCK, a file lock for SQLite.

The lock is held on the connection that migrates the database and names the *physical* database, as
the server knows it, never as it was reached: whichever role, host alias, URL or parts two runs use,
they take one lock. On PostgreSQL an advisory lock is scoped to the database the session is connected
to, so the key is a constant of this tool plus that database's oid read from the server; MariaDB/MySQL
locks are server-wide, so the name is derived from `DATABASE()` read from the server; a SQLite
database is its resolved real path (the lock file lives in this tool's folder, never beside it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .cancel import StopBeforeStart, stop_requested
from .sessions import opened

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


class Held:
    """Whether the run lock was taken (its truth value) and, when not, who holds it as far as the
    server says (`holder`: "PostgreSQL server process 123 (active for 20s)"), or None."""

    def __init__(self, held: bool, holder: tuple[int, str] | None = None) -> None:
        self.held = held
        self.pid: int | None = holder[0] if holder else None
        self.holder: str | None = holder[1] if holder else None

    def __bool__(self) -> bool:
        return self.held


@contextlib.contextmanager
def database_lock(
    identity: str, connect: Callable[[], Any], timeout: float, *, conn: Callable[[], Any] | None = None
) -> Iterator[Held]:
    """Hold the run lock of one database for the block; yields a false Held (naming the holder when the
    server can say) when another run holds it.

    `conn`: a function opening (or returning) the DB-API connection to hold the lock on, which stays
    open afterwards; it is called only for server databases (a SQLite file lock needs no connection, and
    connecting would create the file). Without it a connection of its own is opened and closed. The wait polls, so a stop request (Ctrl-C, SIGTERM)
    ends it at once with StopAtBoundary, nothing done.
    """
    if identity.startswith("sqlite::memory:"):
        yield Held(True)  # a database of its own per connection: nobody else can reach it
        return
    if identity.startswith("sqlite:"):
        lock = SqliteLock(identity.removeprefix("sqlite:"))
        held = _wait(lock.try_acquire, timeout)
        try:
            yield Held(held)
        finally:
            if held:
                lock.release()
        return
    if not identity.startswith(("postgresql://", "mysql://")):
        yield Held(True)  # no lock primitive known for this database
        return
    own = conn is None
    dbapi = connect() if conn is None else conn()
    opened(dbapi)  # the backend that holds the lock: the run ends it if it aborts
    try:
        held = _wait(lambda: _try_server(dbapi, identity), timeout)
        try:
            yield Held(held, None if held else _holder(dbapi, identity))
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


def lock_folder() -> Path:
    """Where SQLite run locks live: one folder of this tool in the system's temporary folder.

    Shared by every user of the machine (sticky, like /tmp), so two users' runs exclude each other.
    """
    folder = Path(tempfile.gettempdir()) / "tenant-router-locks"
    if not folder.is_dir():
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
            folder.chmod(0o1777)
    return folder


class SqliteLock:
    """An flock on a file named by the SQLite database's real path, in lock_folder(); removed on release.

    Nothing is created beside the database. Removing the file while another process waits on it is
    safe: a lock taken on a file that is no longer the one at the path is dropped and taken again.
    """

    def __init__(self, database: str) -> None:
        real = os.path.realpath(database)
        self.path = lock_folder() / (hashlib.sha256(real.encode()).hexdigest()[:32] + ".lock")
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it."""
        while True:
            fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return True
            os.close(fd)  # the holder removed the file after we opened it: try the new one

    def release(self) -> None:
        """Remove the file, then let go."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


def _try_server(conn: Any, identity: str) -> bool:
    held = bool(_scalar(conn, TRY_LOCK_SQL[_kind(identity)]))
    _end_transaction(conn)
    return held


_PG_HOLDER = f"""SELECT a.pid, a.state, EXTRACT(EPOCH FROM now() - a.query_start)::int
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = {PG_LOCK_CLASS}
AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.objid = l.database"""


def _holder(conn: Any, identity: str) -> tuple[int, str] | None:
    """Who holds the run lock of a PostgreSQL database, as pg_locks and pg_stat_activity say; None
    elsewhere or when they cannot be read."""
    if _kind(identity) != "postgresql":
        return None
    cursor = conn.cursor()
    try:
        cursor.execute(_PG_HOLDER)
        row = cursor.fetchone()
    except Exception:
        return None
    finally:
        cursor.close()
        _end_transaction(conn)
    if row is None:
        return None
    pid, state, seconds = row
    since = f" for {seconds}s" if state and seconds is not None else ""
    return int(pid), f"PostgreSQL server process {pid}" + (f" ({state}{since})" if state else "")


def _release(conn: Any, identity: str) -> None:
    _scalar(conn, UNLOCK_SQL[_kind(identity)])
    _end_transaction(conn)


def _end_transaction(conn: Any) -> None:
    """Session-level locks outlive transactions: do not sit idle in one."""
    with contextlib.suppress(Exception):
        conn.commit()
