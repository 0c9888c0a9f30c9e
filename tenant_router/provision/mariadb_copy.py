"""MariaDB/MySQL copies of a database on the same server, table by table (MariaDB has no TEMPLATE).

`CREATE DATABASE` with the template's character set and collation, then each table's own `SHOW CREATE
TABLE` run in the new database (it keeps foreign keys, which `CREATE TABLE ... LIKE` loses, and the
`AUTO_INCREMENT=N` counter, so the next id inserted is the one a migrated database would give), then its
rows with `INSERT ... SELECT`. A template holding anything but base tables is refused beforehand.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from ..errors import NotCopyableError
from .mariadb_sql import ident, is_driver_error, refusal

#: While copying: no foreign-key checks (tables come in name order) and a known sql_mode, whatever the
#: server's: SHOW CREATE TABLE writes full table options, an id 0 stays 0, nothing is refused for being
#: what the template already holds.
COPY_SESSION = "SET SESSION FOREIGN_KEY_CHECKS = 0, sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"


class Admin(Protocol):
    """What a copy needs of the MariaDB server (mariadb_server.MariaDbServer)."""

    label: str

    def run(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]: ...
    def run_verbatim(self, sql: str) -> None: ...
    def scalar(self, sql: str, params: tuple[Any, ...] | None = None) -> Any: ...
    def create_empty(self, name: str, charset: str | None, collation: str | None) -> None: ...
    def drop(self, name: str) -> None: ...
    def charset(self, name: str) -> tuple[str, str]: ...
    def tables(self, name: str) -> list[str]: ...


def copy_database(server: Admin, template: str, name: str) -> None:
    """Create `name` as a copy of `template`; on failure drop `name` (which it made) and raise."""
    charset, collation = server.charset(template)
    refuse_non_tables(server, template)
    tables = server.tables(template)
    columns = _stored_columns(server, template)
    server.create_empty(name, charset, collation)  # DatabaseExistsError here: nothing was made
    what = f"cannot copy {template!r} to {name!r} on {server.label}"
    saved = server.scalar("SELECT @@SESSION.sql_mode")
    table = None
    try:
        server.run(COPY_SESSION)
        server.run(f"USE {ident(name)}")  # SHOW CREATE TABLE names the tables it references unqualified
        for table in tables:
            server.run_verbatim(server.run(f"SHOW CREATE TABLE {ident(template)}.{ident(table)}")[0][1])
        for table in tables:
            listed = ", ".join(ident(column) for column in columns[table])
            server.run(
                f"INSERT INTO {ident(name)}.{ident(table)} ({listed}) SELECT {listed}"
                f" FROM {ident(template)}.{ident(table)}"
            )
    except BaseException as exc:
        with contextlib.suppress(Exception):
            server.drop(name)
        if isinstance(exc, Exception) and is_driver_error(exc):
            at = f" (table {table!r})" if table is not None else ""
            error = refusal(exc, what + at, name)
            error.hint = f"the half-made {name!r} was dropped; nothing else was touched"
            raise error from exc
        raise
    finally:
        with contextlib.suppress(Exception):
            server.run("SET SESSION FOREIGN_KEY_CHECKS = 1, sql_mode = %s", (saved,))
            server.run("USE information_schema")


def _stored_columns(server: Admin, database: str) -> dict[str, list[str]]:
    """Each table's columns that hold data (generated ones are computed; invisible ones are named)."""
    rows = server.run(
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE BINARY TABLE_SCHEMA = %s"
        " AND COALESCE(GENERATION_EXPRESSION, '') = '' ORDER BY TABLE_NAME, ORDINAL_POSITION",
        (database,),
    )
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def refuse_non_tables(server: Admin, name: str) -> None:
    """NotCopyableError when database `name` holds anything but base tables: their copy would not be whole."""
    rows = server.run(
        "SELECT 'view', TABLE_NAME FROM information_schema.VIEWS WHERE BINARY TABLE_SCHEMA = %s"
        " UNION ALL SELECT 'trigger', TRIGGER_NAME FROM information_schema.TRIGGERS"
        " WHERE BINARY TRIGGER_SCHEMA = %s"
        " UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME FROM information_schema.ROUTINES"
        " WHERE BINARY ROUTINE_SCHEMA = %s"
        " UNION ALL SELECT 'event', EVENT_NAME FROM information_schema.EVENTS WHERE BINARY EVENT_SCHEMA = %s"
        " UNION ALL SELECT LOWER(TABLE_TYPE), TABLE_NAME FROM information_schema.TABLES"
        " WHERE BINARY TABLE_SCHEMA = %s AND TABLE_TYPE NOT IN ('BASE TABLE', 'VIEW')",
        (name,) * 5,
    )
    if rows:
        found = ", ".join(f"{kind} {obj!r}" for kind, obj in sorted(rows)[:5]) + (
            ", ..." if len(rows) > 5 else ""
        )
        raise NotCopyableError(
            f"database {name!r} on {server.label} holds more than tables ({found}): a table-by-table copy"
            " would not be whole",
            hint="migrate the tenant instead (--no-template)",
        )
