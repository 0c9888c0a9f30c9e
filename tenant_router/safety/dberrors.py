"""What kind of failure a database error is, told from the driver's exception (any driver, any wrapper)."""

from __future__ import annotations

import re
from collections.abc import Iterator

#: PostgreSQL: invalid_password, invalid_authorization_specification.
AUTH_SQLSTATES = frozenset({"28P01", "28000"})
#: MySQL/MariaDB: ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR.
AUTH_MYSQL_CODES = frozenset({1045, 1044, 1698})
# libpq reports connection-time refusals as text only (psycopg has no SQLSTATE for them).
_AUTH_TEXT = re.compile(
    r"password authentication failed|no pg_hba\.conf entry|role \".*\" does not exist"
    r"|is not permitted to log in|Access denied for user",
)


def error_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, the driver error a wrapper holds (`orig`), and their causes."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        orig = getattr(item, "orig", None)
        stack += [item.__cause__, item.__context__, orig if isinstance(orig, BaseException) else None]


def is_auth_failure(exc: BaseException) -> bool:
    """The server refused the login (wrong password, unknown role): not a network problem."""
    for item in error_chain(exc):
        sqlstate = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if sqlstate in AUTH_SQLSTATES:
            return True
        args = getattr(item, "args", ())
        if args and isinstance(args[0], int) and args[0] in AUTH_MYSQL_CODES:
            return True
        if _AUTH_TEXT.search(str(item)):
            return True
    return False


#: PostgreSQL invalid_catalog_name (libpq reports it at connect time as text only); MySQL ER_BAD_DB_ERROR.
MISSING_SQLSTATE, MISSING_MYSQL_CODE = "3D000", 1049
_MISSING_TEXT = re.compile(r'FATAL:\s+database ".*" does not exist')


def is_missing_database(exc: BaseException) -> bool:
    """The server answered that the database does not exist (not a network or login problem)."""
    for item in error_chain(exc):
        sqlstate = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if sqlstate == MISSING_SQLSTATE or mysql_code(item) == MISSING_MYSQL_CODE:
            return True
        if _MISSING_TEXT.search(str(item)):
            return True
    return False


def connect_failure_label(exc: BaseException) -> str:
    """`authentication failed`, `missing` or `unreachable`: how a database that could not be read is
    labelled."""
    if is_auth_failure(exc):
        return "authentication failed"
    return "missing" if is_missing_database(exc) else "unreachable"


#: PostgreSQL lock_not_available: lock_timeout ran out (or NOWAIT). Not 40P01 (a deadlock is another story).
LOCK_TIMEOUT_SQLSTATES = frozenset({"55P03"})
#: MariaDB/MySQL ER_LOCK_WAIT_TIMEOUT: a row lock (innodb_lock_wait_timeout) or a metadata lock
#: (lock_wait_timeout) waited out. Not 1213, ER_LOCK_DEADLOCK.
LOCK_TIMEOUT_MYSQL_CODES = frozenset({1205})
#: PostgreSQL query_canceled: also a cancel request, so its text must name the statement timeout.
STATEMENT_TIMEOUT_SQLSTATE = "57014"
#: MariaDB ER_STATEMENT_TIMEOUT (max_statement_time), MySQL ER_QUERY_TIMEOUT (max_execution_time).
STATEMENT_TIMEOUT_MYSQL_CODES = frozenset({1969, 3024})
#: SQLite SQLITE_BUSY and SQLITE_LOCKED (primary result codes; extended ones keep them in the low byte).
SQLITE_BUSY_CODES = frozenset({5, 6})
_SQLITE_BUSY_TEXT = ("database is locked", "database table is locked")


def mysql_code(item: BaseException) -> int | None:
    """The server's error number of a MySQLdb/PyMySQL error, else None."""
    if not type(item).__module__.startswith(("MySQLdb", "pymysql")):
        return None
    args = getattr(item, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_lock_timeout(exc: BaseException) -> bool:
    """A statement gave up waiting for a lock: PostgreSQL 55P03, MariaDB/MySQL 1205, SQLite busy."""
    for item in error_chain(exc):
        sqlstate = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if sqlstate in LOCK_TIMEOUT_SQLSTATES or mysql_code(item) in LOCK_TIMEOUT_MYSQL_CODES:
            return True
        if type(item).__module__ == "sqlite3":
            code = getattr(item, "sqlite_errorcode", None)
            if (code is not None and code & 0xFF in SQLITE_BUSY_CODES) or str(item) in _SQLITE_BUSY_TEXT:
                return True
    return False


def is_statement_timeout(exc: BaseException) -> bool:
    """A statement ran longer than the statement time limit (PostgreSQL 57014, MariaDB 1969, MySQL 3024)."""
    for item in error_chain(exc):
        sqlstate = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if sqlstate == STATEMENT_TIMEOUT_SQLSTATE and "statement timeout" in str(item):
            return True
        if mysql_code(item) in STATEMENT_TIMEOUT_MYSQL_CODES:
            return True
    return False
