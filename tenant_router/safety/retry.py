"""Transient connection errors: a database server restarting, a connection killed or reset.

They are retried with back-off, a bounded number of times, and only at a database boundary: before a
database's migration starts, between two of its migrations, or inside one whose transaction the
server rolled back whole when the connection died (the next attempt reads again where the database
is and plans from there). An error raised by a migration itself (a SQL error) is never retried.
"""

from __future__ import annotations

import time

from .cancel import stop_requested
from .dberrors import error_chain, mysql_code

#: Seconds to wait before each retry: five retries over about half a minute.
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0)

# PostgreSQL SQLSTATEs: connection exceptions (class 08), admin/crash shutdown, cannot connect now.
_PG_STATES = frozenset({"08000", "08003", "08006", "08007", "57P01", "57P02", "57P03"})
# MySQL/MariaDB client and server errors: server gone away, lost connection, shutdown.
_MYSQL_CODES = frozenset({1053, 1927, 2006, 2013, 2055})
# Could not connect at all: transient only for a server that answered before (restarting), else a
# wrong host or port, reported at once instead of after half a minute of retries.
_PG_REFUSED = frozenset({"08001", "08004"})
_MYSQL_REFUSED = frozenset({2002, 2003})
_REFUSED_TEXTS = ("connection refused", "could not connect to server", "can't connect to")
_TEXTS = (
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "terminating connection due to administrator command",
    "terminating connection because of crash of another server process",
    "server closed the connection unexpectedly",
    "connection reset",
    "connection is closed",
    "connection already closed",
    "consuming input failed",
    "server has gone away",
    "lost connection to",
    "ssl syscall error: eof",
)


def transient(exc: BaseException, *, answered_before: bool = True) -> bool:
    """True when `exc`, or an error it was raised from, says the connection (not the SQL) failed.

    A refused connection counts only when the server `answered_before` in this run (it is restarting).
    """
    for error in error_chain(exc):
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        code = mysql_code(error)
        text = str(error).lower()
        if state in _PG_STATES or code in _MYSQL_CODES or any(f in text for f in _TEXTS):
            return True
        refused = state in _PG_REFUSED or code in _MYSQL_REFUSED or any(f in text for f in _REFUSED_TEXTS)
        if refused and answered_before:
            return True
    return False


def delay_before(attempt: int) -> float | None:
    """Seconds to wait before `attempt` (2 = the first retry); None when retries are used up."""
    index = attempt - 2
    return RETRY_DELAYS[index] if 0 <= index < len(RETRY_DELAYS) else None


def pause(seconds: float) -> bool:
    """Sleep `seconds`; False at once when the run is asked to stop."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stop_requested():
            return False
        time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))
    return not stop_requested()


_answered: set[str] = set()  # servers (host:port) that answered in this process


def server_of(identity: str) -> str:
    """`host:port` of a database identity (`postgresql://host:5432/name`); '' for a file."""
    from urllib.parse import urlsplit

    return urlsplit(identity).netloc.rpartition("@")[2]


def answered(server: str) -> None:
    """Remember that `server` answered (a later refusal means it is restarting)."""
    if server:
        _answered.add(server)


def has_answered(server: str) -> bool:
    """True when `server` answered earlier in this process."""
    return server in _answered
