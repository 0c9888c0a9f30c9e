"""The server sessions a database's run opens (PostgreSQL backends), so a run that aborts can end them.

A worker killed by an aborted run (a second Ctrl-C or SIGTERM) cannot roll back: its PostgreSQL backend
goes on running the statement it was given, holding the transaction and the run lock until the
statement ends. So every PostgreSQL connection opened while a database runs is noted (`opened`) under
that database's key and passed to a listener (a worker sends it to the run); the run ends those
backends from a side connection (`end_sessions`) before it reads where the database was left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

#: How long pg_terminate_backend waits for a backend to be gone (so its locks are free), in ms.
TERMINATE_WAIT_MS = 5000


@dataclass(frozen=True, slots=True)
class Session:
    """One PostgreSQL backend: the server as the connection named it, the database, the process id."""

    host: str
    port: int
    database: str
    pid: int


_current: Hashable | None = None
_listener: Callable[[Hashable, Session], None] | None = None


def on_opened(listener: Callable[[Hashable, Session], None] | None) -> None:
    """Pass every session opened while a database runs to `listener` (None: to nobody)."""
    global _listener
    _listener = listener


@contextlib.contextmanager
def migrating(key: Hashable) -> Iterator[None]:
    """Sessions opened inside the block belong to database `key`."""
    global _current
    outer, _current = _current, key
    try:
        yield
    finally:
        _current = outer


def _host(host: Any) -> str:
    text = str(host or "localhost")
    return "localhost" if text in ("127.0.0.1", "::1") or text.startswith("/") else text


def session_of(dbapi: Any) -> Session | None:
    """The backend behind a psycopg (3) connection; None for any other driver."""
    info: Any = getattr(dbapi, "info", None)
    pid = getattr(info, "backend_pid", None)
    if not isinstance(pid, int) or not pid:
        return None
    return Session(_host(info.host), int(info.port or 5432), str(info.dbname), pid)


def opened(dbapi: Any) -> None:
    """Note a connection just opened: its backend belongs to the database running now, if any."""
    if _listener is None or _current is None:
        return
    session = session_of(dbapi)
    if session is not None:
        _listener(_current, session)


def end_sessions(connect: Callable[[], Any], sessions: Sequence[Session]) -> int:
    """End these backends (their running statement, their transaction, their locks) from a side
    connection `connect()` opens to the same server; how many were ended. Errors end nothing."""
    try:
        side = connect()
    except Exception:
        return 0
    try:
        here = session_of(side)
        if here is None:
            return 0
        mine = [s for s in sessions if (s.host, s.port) == (here.host, here.port)]
        return sum(_terminate(side, session) for session in mine)
    finally:
        with contextlib.suppress(Exception):
            side.close()


def _terminate(side: Any, session: Session) -> bool:
    """End one backend, waiting for it to be gone (PostgreSQL 14+; older servers: without waiting)."""
    for wait in (f", {TERMINATE_WAIT_MS}", ""):
        cursor = side.cursor()
        try:
            cursor.execute(
                f"SELECT pg_terminate_backend(pid{wait}) FROM pg_stat_activity "
                f"WHERE pid = {int(session.pid)} AND datname = %s AND pid <> pg_backend_pid()",
                (session.database,),
            )
            return any(done for (done,) in cursor.fetchall())
        except Exception:
            with contextlib.suppress(Exception):
                side.rollback()
        finally:
            cursor.close()
    return False
