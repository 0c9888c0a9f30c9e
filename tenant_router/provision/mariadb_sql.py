"""MariaDB/MySQL statements' pieces: quoting, and the server's error numbers as provisioning errors."""

from __future__ import annotations

import re

from ..errors import CreateRefusedError, DatabaseExistsError, ProvisionError
from .server_base import first_line

#: ER_DB_CREATE_EXISTS, ER_TABLE_EXISTS_ERROR.
EXISTS_CODES = frozenset({1007, 1050})
#: ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR,
#: ER_COLUMNACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR.
DENIED_CODES = frozenset({1044, 1045, 1142, 1143, 1227})
#: The longest schema comment MariaDB keeps.
MAX_COMMENT = 1024
CHARSET_NAME = re.compile(r"\A[A-Za-z0-9_]+\Z")


def ident(name: str) -> str:
    """A MariaDB identifier, quoted, for a statement run with parameters (a `%` is doubled)."""
    return "`" + name.replace("`", "``").replace("%", "%%") + "`"


def refusal(exc: BaseException, what: str, name: str) -> ProvisionError:
    """The driver's error as the one provisioning error that says what happened to `name`."""
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    message = f"{what}: {first_line(exc.args[1] if len(args) > 1 else exc)}"
    if code in EXISTS_CODES:
        return DatabaseExistsError(message, hint=f"{name!r} exists already; nothing was done to it")
    if code in DENIED_CODES:
        return CreateRefusedError(message, denied=True, hint="the user needs CREATE (and DROP) on the server")
    return CreateRefusedError(message, denied=False)


def is_driver_error(exc: BaseException) -> bool:
    """A MySQLdb/PyMySQL error (the ones that carry the server's error number)."""
    return type(exc).__module__.startswith(("MySQLdb", "pymysql", "_mysql"))
