"""Per-engine database administration for creating tenants: one `Server` per (engine, host, port, role).

`open_server()` gives the PostgreSQL or MariaDB/MySQL one, over a raw DB-API connection to the server's
maintenance database; `sqlite_files()` the SQLite one, a folder. What each engine does is in its module:
postgres_server.py, mariadb_server.py (+ mariadb_copy.py), sqlite_folder.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from .mariadb_server import MariaDbServer
from .postgres_server import PostgresServer
from .server_base import CreateOptions, DatabaseInfo, Server
from .sqlite_folder import SqliteFiles

__all__ = [
    "CreateOptions",
    "DatabaseInfo",
    "MariaDbServer",
    "PostgresServer",
    "Server",
    "SqliteFiles",
    "open_server",
    "sqlite_files",
]


def open_server(backend: str, connect: Callable[[], Any], label: str) -> Server:
    """The Server of a PostgreSQL ("postgresql") or MariaDB/MySQL ("mysql") server.

    `connect()` opens a raw DB-API connection (psycopg 3 / MySQLdb) to the maintenance database
    (PostgreSQL "postgres", MariaDB "information_schema"); it is called on first use, and the Server puts
    it in autocommit. `label` names the server in messages (a password in it is hidden).
    """
    if backend == "postgresql":
        return PostgresServer(connect, label)
    if backend == "mysql":
        return MariaDbServer(connect, label)
    raise UsageError(f"no provisioning for backend {backend!r} (postgresql, mysql; SQLite: sqlite_files())")


def sqlite_files(folder: str) -> Server:
    """The SQLite Server of `folder`: database names are absolute file paths (relative ones are in it)."""
    return SqliteFiles(folder)
