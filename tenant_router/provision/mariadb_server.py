"""MariaDB/MySQL: CREATE DATABASE, publish by moving every table in one RENAME TABLE, GET_LOCK locks.

MariaDB has no database template: copies are made table by table (mariadb_copy.py). Schema comments
(`ALTER DATABASE ... COMMENT`, `SCHEMATA.SCHEMA_COMMENT`) exist from MariaDB 10.5; on a server without
them there are no comments, hence no published templates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import CreateRefusedError, ProvisionError
from .mariadb_copy import copy_database, refuse_non_tables
from .mariadb_sql import CHARSET_NAME, MAX_COMMENT, ident, is_driver_error, refusal
from .server_base import CreateOptions, DatabaseInfo, DbApiServer, lock_digest


class MariaDbServer(DbApiServer):
    """A MariaDB (or MySQL) server, reached over a connection to information_schema."""

    backend = "mysql"
    max_name = 64
    name_unit = "characters"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._comments: bool | None = None

    @property
    def conn(self) -> Any:
        fresh = self._conn is None
        conn = super().conn
        if fresh and callable(getattr(conn, "set_character_set", None)):
            conn.set_character_set("utf8mb4")  # names and comments in any script
        return conn

    def run(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        # Always with a tuple: identifiers double their `%` (ident()), so every statement is formatted.
        return super().run(sql, tuple(params or ()))

    def run_verbatim(self, sql: str) -> None:
        """Run SQL the server wrote itself (SHOW CREATE TABLE), as it is."""
        super().run(sql, None)

    def _do(self, sql: str, what: str, name: str, params: tuple[Any, ...] = ()) -> None:
        try:
            self.run(sql, params)
        except Exception as exc:
            if not is_driver_error(exc):
                raise
            raise refusal(exc, what, name) from exc

    def exists(self, name: str) -> bool:
        return (
            self.scalar("SELECT 1 FROM information_schema.SCHEMATA WHERE BINARY SCHEMA_NAME = %s", (name,))
            == 1
        )

    def create(self, name: str, options: CreateOptions, template: str | None = None) -> None:
        self.check_name(name)
        if template is not None:
            copy_database(self, template, name)
            return
        self.create_empty(name, options.encoding, options.collation)

    def create_empty(self, name: str, charset: str | None, collation: str | None) -> None:
        """CREATE DATABASE with this character set and collation (the server's defaults for None)."""
        sql = f"CREATE DATABASE {ident(name)}"
        for clause, value in (("CHARACTER SET", charset), ("COLLATE", collation)):
            if value is None:
                continue
            if not CHARSET_NAME.match(value):
                raise ProvisionError(
                    f"cannot create database {name!r} on {self.label}: {clause} {value!r} is not a name"
                )
            sql += f" {clause} {value}"
        self._do(sql, f"cannot create database {name!r} on {self.label}", name)

    def drop(self, name: str) -> None:
        if not self.usable(name):
            return  # no such database can exist
        self._do(f"DROP DATABASE IF EXISTS {ident(name)}", f"cannot drop {name!r} on {self.label}", name)

    def publish(self, building: str, final: str, comment: str) -> None:
        # No RENAME DATABASE: make `final`, move every table into it with one (atomic) RENAME TABLE, and set
        # the comment last: readers take a database without its comment for one that is not ready.
        self.check_name(final)
        self._check_comment(final, comment)
        refuse_non_tables(self, building)
        what = f"cannot publish {building!r} as {final!r} on {self.label}"
        charset, collation = self.charset(building)
        tables = self.tables(building)
        self.create_empty(final, charset, collation)
        try:
            self._move(building, final, tables, what)
        except BaseException:
            self.drop(final)  # empty: we made it a moment ago
            raise
        try:
            self._set_comment(final, comment, what)
        except BaseException:
            with contextlib.suppress(Exception):
                self._move(final, building, tables, what)
                self.drop(final)
            raise
        self.drop(building)

    def _move(self, source: str, target: str, tables: list[str], what: str) -> None:
        if tables:
            pairs = ", ".join(f"{ident(source)}.{ident(t)} TO {ident(target)}.{ident(t)}" for t in tables)
            self._do(f"RENAME TABLE {pairs}", what, target)

    def charset(self, name: str) -> tuple[str, str]:
        """A database's default character set and collation; CreateRefusedError when it does not exist."""
        rows = self.run(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
            " WHERE BINARY SCHEMA_NAME = %s",
            (name,),
        )
        if not rows:
            raise CreateRefusedError(f"database {name!r} does not exist on {self.label}", denied=False)
        return rows[0][0], rows[0][1]

    def tables(self, name: str) -> list[str]:
        """The base tables of a database, by name."""
        rows = self.run(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE BINARY TABLE_SCHEMA = %s"
            " AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (name,),
        )
        return [row[0] for row in rows]

    @property
    def has_comments(self) -> bool:
        """Whether the server keeps schema comments (MariaDB >= 10.5)."""
        if self._comments is None:
            self._comments = bool(
                self.scalar(
                    "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'information_schema'"
                    " AND TABLE_NAME = 'SCHEMATA' AND COLUMN_NAME = 'SCHEMA_COMMENT'"
                )
            )
        return self._comments

    def _check_comment(self, name: str, comment: str) -> None:
        if not self.has_comments:
            version = self.scalar("SELECT VERSION()")
            raise ProvisionError(
                f"cannot comment database {name!r} on {self.label}: the server ({version}) keeps no schema"
                " comments (MariaDB 10.5 or later does)",
                hint="tenants on this server are migrated, never copied from a template",
            )
        if len(comment) > MAX_COMMENT:
            raise ProvisionError(
                f"comment of {name!r} is {len(comment)} characters; MariaDB keeps {MAX_COMMENT}"
            )

    def _set_comment(self, name: str, comment: str, what: str) -> None:
        self._do(f"ALTER DATABASE {ident(name)} COMMENT = %s", what, name, (comment,))

    def databases(self, prefix: str, *, sizes: bool = True) -> list[DatabaseInfo]:
        comment = "s.SCHEMA_COMMENT" if self.has_comments else "NULL"
        size = (
            "(SELECT COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0)"
            " FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = s.SCHEMA_NAME)"
            if sizes
            else "NULL"
        )
        rows = self.run(
            f"SELECT s.SCHEMA_NAME, {size}, {comment} FROM information_schema.SCHEMATA s"
            " WHERE BINARY LEFT(s.SCHEMA_NAME, CHAR_LENGTH(%s)) = %s ORDER BY BINARY s.SCHEMA_NAME",
            (prefix, prefix),
        )
        return [
            DatabaseInfo(name, None if size is None else int(size), text or None) for name, size, text in rows
        ]

    def comment(self, name: str) -> str | None:
        if not self.has_comments:
            return None
        text = self.scalar(
            "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE BINARY SCHEMA_NAME = %s", (name,)
        )
        return text or None

    def set_comment(self, name: str, comment: str) -> None:
        self._check_comment(name, comment)
        self._set_comment(name, comment, f"cannot comment database {name!r} on {self.label}")

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[None]:
        # GET_LOCK names are server-wide, at most 64 characters, and die with the session.
        name = "tenant_router:provision:" + lock_digest(key)[:40]
        if self.scalar("SELECT GET_LOCK(%s, %s)", (name, max(timeout, 0.0))) != 1:
            raise TimeoutError(
                f"lock {key!r} on {self.label}: still held by someone else after {timeout:g} s"
            )
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self.run("SELECT RELEASE_LOCK(%s)", (name,))
