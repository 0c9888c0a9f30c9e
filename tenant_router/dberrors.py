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


def connect_failure_label(exc: BaseException) -> str:
    """`authentication failed` or `unreachable`: how a database that could not be read is labelled."""
    return "authentication failed" if is_auth_failure(exc) else "unreachable"
