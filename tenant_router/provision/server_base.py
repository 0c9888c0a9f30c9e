"""What every engine's server offers the provisioning code: the abstract Server and the values it trades in."""

from __future__ import annotations

import abc
import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProvisionError
from ..safety.redact import mask_url

#: How often a lock that the server cannot wait for by itself is tried again.
LOCK_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class CreateOptions:
    """A tenant's own database settings, applied when its database is created empty."""

    owner: str | None = None  # PostgreSQL OWNER role (ignored elsewhere)
    encoding: str | None = None  # PostgreSQL ENCODING; MariaDB CHARACTER SET
    collation: str | None = None  # PostgreSQL LC_COLLATE + LC_CTYPE; MariaDB COLLATE

    @classmethod
    def of(cls, entry: Any) -> CreateOptions:
        """The options a database settings entry's "CREATE" object names (validated by the managers)."""
        given = (entry.get("CREATE") or {}) if isinstance(entry, Mapping) else {}
        return cls(given.get("OWNER"), given.get("ENCODING"), given.get("COLLATION"))


@dataclass(frozen=True)
class DatabaseInfo:
    """One database of a server as `Server.databases()` lists it."""

    name: str
    size: int | None  # bytes
    comment: str | None  # the text set by publish()/set_comment(); None when there is none


class Server(abc.ABC):
    """One database server (engine, host, port, role) or, for SQLite, one folder.

    A Server keeps one connection and is used by one thread at a time; open one per thread.
    """

    backend: str  # "postgresql" | "mysql" | "sqlite"
    label: str  # e.g. "postgresql://role@127.0.0.1:5432": never a password

    @abc.abstractmethod
    def exists(self, name: str) -> bool:
        """Whether database `name` exists."""

    @abc.abstractmethod
    def create(self, name: str, options: CreateOptions, template: str | None = None) -> None:
        """Create `name` empty, or as a copy of `template`; never touch a database that exists.

        Raises DatabaseExistsError when the name is taken. A copy that fails half-way drops what it made
        (only that) and raises.
        """

    def locate(self, name: str) -> str:
        """What a connection's settings name database `name` by (SQLite: the file's absolute path)."""
        return name

    @abc.abstractmethod
    def drop(self, name: str) -> None:
        """Drop `name` if it exists, whoever is connected to it."""

    @abc.abstractmethod
    def publish(self, building: str, final: str, comment: str) -> None:
        """Make the fully built database `building` available as `final` with `comment`, atomically for
        readers: `final` is never seen without its comment or with part of its tables."""

    @abc.abstractmethod
    def databases(self, prefix: str, *, sizes: bool = True) -> list[DatabaseInfo]:
        """Every database whose name starts with `prefix`, with its comment and (when `sizes`: reading
        it costs a walk of the database's files or tables) its size."""

    @abc.abstractmethod
    def comment(self, name: str) -> str | None:
        """The comment of `name`; None when it has none or does not exist."""

    @abc.abstractmethod
    def set_comment(self, name: str, comment: str) -> None:
        """Set the comment of `name`."""

    @abc.abstractmethod
    def lock(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        """Hold a server-wide lock named `key` for the block; TimeoutError after `timeout` seconds.

        The lock dies with the session (the process), so a killed holder never leaves it taken.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection (release every lock it holds)."""

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


class DbApiServer(Server):
    """A server reached over one autocommit DB-API connection to its maintenance database."""

    #: The longest name the engine keeps whole, and in what unit.
    max_name: int
    name_unit: str

    def __init__(self, connect: Callable[[], Any], label: str) -> None:
        self._connect = connect
        self.label = mask_url(label)
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        """The connection, opened on first use, in autocommit."""
        if self._conn is None:
            conn = self._connect()
            if callable(getattr(conn, "autocommit", None)):
                conn.autocommit(True)  # MySQLdb
            else:
                conn.autocommit = True  # psycopg
            self._conn = conn
        return self._conn

    def run(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        """Execute one statement; its rows (none for a statement that returns none).

        Statements that quote identifiers are built without parameters and run with `params=None`, so a
        `%` in a hostile name is never taken for a placeholder.
        """
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        finally:
            cursor.close()

    def scalar(self, sql: str, params: tuple[Any, ...] | None = None) -> Any:
        """The first column of the first row, or None."""
        rows = self.run(sql, params)
        return rows[0][0] if rows else None

    def usable(self, name: str) -> bool:
        """Whether the server can hold a database of this name (whole: not cut short)."""
        length = len(name.encode()) if self.name_unit == "bytes" else len(name)
        return bool(name) and "\x00" not in name and length <= self.max_name

    def check_name(self, name: str) -> None:
        """Refuse a name the server would truncate or reject, before anything is done."""
        length = len(name.encode()) if self.name_unit == "bytes" else len(name)
        if not self.usable(name):
            raise ProvisionError(
                f"database name {name!r} cannot be used on {self.label}: "
                f"{'it is empty or holds a NUL' if length <= self.max_name else f'{length} {self.name_unit}'}"
                f"; the server allows 1 to {self.max_name} {self.name_unit}",
                hint="choose a shorter NAME (or template prefix)",
            )

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def lock_digest(key: str) -> str:
    """A stable hexadecimal digest of a lock key (locks name keys by digest: any text is a key)."""
    return hashlib.sha256(key.encode()).hexdigest()


def first_line(exc: BaseException) -> str:
    """The driver's message on one line, with any URL's password hidden."""
    text = str(exc).strip().splitlines()
    return mask_url(text[0].strip() if text else type(exc).__name__)


@contextlib.contextmanager
def polled(
    try_once: Callable[[], bool], release: Callable[[], object], timeout: float, what: str
) -> Iterator[None]:
    """Try a lock until held or `timeout` seconds passed (TimeoutError naming `what`); release it after."""
    deadline = time.monotonic() + max(timeout, 0.0)
    while not try_once():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: still held by someone else after {timeout:g} s")
        time.sleep(LOCK_POLL_SECONDS)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a lost session has let go already
            release()
