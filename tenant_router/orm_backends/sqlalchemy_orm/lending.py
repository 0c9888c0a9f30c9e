"""One connection per database being migrated, also for the stock env.py.

The `alembic init` template's env.py builds its own engine from `sqlalchemy.url` and connects again, beside
the connection the run already holds (its run lock's): every Alembic database then cost its server two
connections, twice what `--max-connections-per-host` allows. While env.py runs, a connect of this thread
to the very database held is handed the held connection instead (its engine's close gives it back
without closing it). An env.py with connection settings of its own (other `connect_args`), or one
that opens a second connection while the first is out, gets a connection of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

#: Dialects of a database server (SQLite has none: a file, no connection cap).
SERVERS = frozenset({"postgresql", "mysql", "mariadb"})


def _identity(dialect: str, args: Any, params: Any) -> tuple[Any, ...]:
    """What names a connection's database, login and settings (the driver's plain values: psycopg adds
    an adapters map of each engine's own)."""
    plain = (str, int, float, bool, type(None))
    return dialect, list(args), {k: v for k, v in dict(params).items() if isinstance(v, plain)}


@contextmanager
def lend_connection(connection: Connection, url: str) -> Iterator[None]:
    """While the block runs, an engine of this thread that connects to `url` (the database `connection`
    is open on) with no settings of its own gets `connection`'s DB-API connection, one user at a time."""
    dialect = connection.dialect
    if dialect.name not in SERVERS:
        yield
        return
    expected = _identity(dialect.name, *dialect.create_connect_args(make_url(url)))
    thread, returned = threading.get_ident(), threading.Event()
    returned.set()  # not lent out yet

    def do_connect(target: Any, record: Any, args: Any, params: Any) -> Any:
        if threading.get_ident() != thread or not returned.is_set():
            return None  # another thread, or a second connection while the first is still open
        if _identity(target.name, args, params) != expected:
            return None  # another database, or connect_args of env.py's own
        returned.clear()
        held = connection.connection.dbapi_connection
        _keep_open(target, held, returned)
        return held

    event.listen(Engine, "do_connect", do_connect)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", do_connect)


def _keep_open(dialect: Any, held: Any, returned: threading.Event) -> None:
    """env.py's engine closing `held` (its pool's close, by its dialect) only gives it back: the run
    still migrates over it and holds its run lock on it. (Drivers check the connection's class: it
    cannot be wrapped.)"""
    close = dialect.do_close

    def do_close(dbapi_connection: Any) -> None:
        if dbapi_connection is held:
            returned.set()
        else:
            close(dbapi_connection)

    dialect.do_close = do_close  # this engine's dialect only (env.py's engine is its own)
