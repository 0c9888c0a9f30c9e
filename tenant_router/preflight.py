"""Pre-flight: what each database has pending, read from its bookkeeping table before any migration.

Assistants describe how to read their bookkeeping table (`BookkeepingRead`); reads that name the same
physical database (a tenant's Django and Alembic tables often share one) go over one connection.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import TenantRouterError
from .record.report import one_line_error

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
#: The database every server has, connected to where a tenant's own does not exist (yet).
MAINTENANCE_DATABASES = {"postgresql": "postgres", "mysql": "information_schema"}
_MEMORY = itertools.count()


@dataclass(frozen=True, slots=True)
class Inspection:
    """What one database still needs, as read from `django_migrations` / `alembic_version`."""

    pending: tuple[str, ...]  # steps not applied yet, in order (empty: up to date)
    current: str | None  # the latest step applied, for display
    irreversible: tuple[str, ...] = ()  # pending backwards steps that cannot be reversed

    @property
    def up_to_date(self) -> bool:
        """Nothing pending."""
        return not self.pending


@dataclass(frozen=True)
class FollowUp:
    """A further query, run over the same connection when the database looks up to date."""

    sql: str
    #: The Inspection so far and the rows (None: the table is missing or unreadable) -> the verdict.
    amend: Callable[[Inspection, Sequence[tuple[Any, ...]] | None], Inspection]


@dataclass(frozen=True)
class BookkeepingRead:
    """How to read one database's bookkeeping rows over a raw DB-API connection."""

    identity: str  # the physical database (see database_identity); equal identities share a connection
    connect: Callable[[], Any]  # opens a raw DB-API connection (errors mean: unreachable)
    sql: str  # a query without parameters; only a missing table means "no bookkeeping table yet"
    interpret: Callable[[Sequence[tuple[Any, ...]]], Inspection]  # rows ([] when the table is missing)
    follow_ups: tuple[FollowUp, ...] = ()  # e.g. did the last post_migrate complete (Django)
    server: str = ""  # how messages name its server: as configured (see server_label)

    @property
    def server_name(self) -> str:
        """The server as configured, `postgresql://role@127.0.0.1:5432` (the identity's spelling if unset)."""
        return self.server or self.identity.rsplit("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The pre-flight could not read the database."""

    error: str
    label: str = "unreachable"  # or "authentication failed"
    message: str | None = None  # the failure line, when not "<label>: <error>" ("not a database: ...")

    @property
    def line(self) -> str:
        """What the database's failed row says."""
        return self.message or f"{self.label}: {self.error}"


#: What the pre-flight says of one database: its Inspection, Unreachable, or None (cannot tell).
Verdict = Inspection | Unreachable | None


_BACKENDS = {"postgres": "postgresql", "mariadb": "mysql", "sqlite3": "sqlite"}


def server_label(backend: str, host: str | None, port: Any, user: str | None) -> str:
    """How messages name a database's server: as its settings do, `postgresql://role@127.0.0.1:5432`
    (the identity spells every local host `localhost`, which is not what the user wrote)."""
    backend = _BACKENDS.get(backend, backend)
    port = int(port) if port not in (None, "") else DEFAULT_PORTS.get(backend, 0)
    return f"{backend}://{user or ''}@{host or 'localhost'}:{port}"


def database_identity(backend: str, host: str | None, port: Any, name: str, user: str | None) -> str:
    """One spelling per physical database, whatever the ORM: `postgresql://user@host:5432/name`."""
    backend = _BACKENDS.get(backend, backend)
    if backend == "sqlite":
        if name.startswith("file:"):  # a URI filename (OPTIONS {"uri": True}, SQLAlchemy ?uri=true)
            uri = urlsplit(name)
            memory = "mode=memory" in uri.query or uri.path in ("", ":memory:")
            name = ":memory:" if memory else unquote(uri.path)
        if name in ("", ":memory:"):  # every connection gets a database of its own: nothing is shared
            return f"sqlite::memory:{next(_MEMORY)}"
        return f"sqlite:{os.path.realpath(name)}"
    port = int(port) if port not in (None, "") else DEFAULT_PORTS.get(backend, 0)
    host = host or "localhost"
    if host == "127.0.0.1":
        host = "localhost"
    return f"{backend}://{user or ''}@{host}:{port}/{name}"


def read_many(reads: Sequence[BookkeepingRead]) -> list[Inspection | BaseException]:
    """Run reads that share one identity over one connection; a connect failure fails them all.

    A SQLite file that does not exist yet is read as empty, without creating it.
    """
    identity = reads[0].identity
    if identity.startswith("sqlite:") and not os.path.exists(path := identity.removeprefix("sqlite:")):
        if os.path.isdir(os.path.dirname(path) or "."):
            return [_interpret(read, []) for read in reads]
        import sqlite3

        missing = sqlite3.OperationalError(
            f"unable to open database file (no folder {os.path.dirname(path)!r})"
        )
        return [missing] * len(reads)
    if identity.startswith("sqlite:") and (
        problem := not_a_sqlite_database(identity.removeprefix("sqlite:"))
    ):
        return [problem] * len(reads)
    try:
        conn = reads[0].connect()
    except Exception as exc:
        return [exc] * len(reads)
    results: list[Inspection | BaseException] = []
    try:
        for read in reads:
            rows, error = _query(conn, read.sql)
            if isinstance(error, _Lost):  # the rollback failed: the connection is gone
                results += [error.cause] * (len(reads) - len(results))
                return results
            # A missing table means nothing applied yet; any other error: this database cannot be read.
            failed = (
                None
                if error is None or missing_table(error)
                else UnreadableError(f"unreadable: {one_line_error(error)}")
            )
            result = failed or _interpret(read, rows or [])
            for follow_up in read.follow_ups:
                if not isinstance(result, Inspection) or not result.up_to_date:
                    break
                extra, error = _query(conn, follow_up.sql)
                if isinstance(error, _Lost):
                    results += [error.cause] * (len(reads) - len(results))
                    return results
                result = follow_up.amend(result, extra)
            results.append(result)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    return results


class _Lost(Exception):
    """The connection is gone (rolling back after a failed query failed too)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _query(conn: Any, sql: str) -> tuple[list[tuple[Any, ...]] | None, BaseException | None]:
    """(rows, None), or (None, the error) with the connection rolled back and usable again, or
    (None, _Lost) when it is not."""
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall()), None
    except Exception as exc:
        try:
            conn.rollback()  # PostgreSQL aborts the transaction on any error
        except Exception as lost:
            return None, _Lost(lost)
        return None, exc
    finally:
        cursor.close()


SQLITE_HEADER = b"SQLite format 3\x00"


def missing_table(exc: BaseException) -> bool:
    """True when a query failed because its table does not exist, on any of the drivers."""
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)  # psycopg 3 / 2
    if sqlstate is not None:
        return bool(sqlstate == "42P01")  # undefined_table
    module = type(exc).__module__
    if module.startswith(("MySQLdb", "pymysql", "mysql")):
        return bool(exc.args and exc.args[0] == 1146)  # ER_NO_SUCH_TABLE
    if module.startswith("sqlite3"):
        return "no such table" in str(exc)
    return "no such table" in str(exc) or "does not exist" in str(exc)  # other drivers: by the message


class PreflightError(TenantRouterError):
    """The pre-flight could not read a database; the message is the database's failure line."""


class NotADatabaseError(PreflightError):
    """A SQLite NAME pointing at a file that is not a SQLite database (a text file, a folder, ...)."""


class UnreadableError(PreflightError):
    """The database answered, but its bookkeeping table could not be read (no SELECT right, ...)."""


def not_a_sqlite_database(path: str) -> NotADatabaseError | None:
    """Why the existing file at `path` is not a SQLite database, or None (an empty file is one)."""
    if not os.path.exists(path):
        return None
    try:
        if os.path.isdir(path):
            raise IsADirectoryError(path)
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return NotADatabaseError(f"not a database: {path} ({exc.strerror or type(exc).__name__})")
    if header and header != SQLITE_HEADER:
        return NotADatabaseError(f"not a database: {path} is not a SQLite file")
    return None


def _interpret(read: BookkeepingRead, rows: Sequence[tuple[Any, ...]]) -> Inspection | BaseException:
    try:
        return read.interpret(rows)
    except Exception as exc:
        return exc
