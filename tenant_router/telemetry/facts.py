"""What a run's telemetry says about the run and its databases: names and numbers, never a URL or password.

Plain Python (no OpenTelemetry import): the engine builds RunFacts whether or not telemetry is on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..record.events import Status
from ..record.keys import DbKey
from ..safety.redact import REDACTOR

_URL = re.compile(r"\b([a-zA-Z][\w+.-]*)://\S+")
_CLASS = re.compile(
    r"^((?:[A-Za-z_]\w*\.)*[A-Z]\w*)(?::|$)"
)  # "OperationalError: ...", not "app.0001_x: ..."
#: What the executors say when a worker went away under a database (dispatch.fail_unfinished's lines).
_LOST = re.compile(r"^(worker process died|Celery worker \S+ lost)")
_ENGINES = {"postgres": "postgresql", "postgresql": "postgresql", "psycopg": "postgresql", "psycopg2": "postgresql",
            "mysql": "mysql", "mariadb": "mariadb", "sqlite": "sqlite", "sqlite3": "sqlite", "oracle": "oracle"}  # fmt: skip


def scrub(text: str) -> str:
    """`text` with passwords masked and every URL left out (an attribute names a server, never a URL)."""
    return _URL.sub(lambda m: f"<{m.group(1)} URL>", REDACTOR(text))


def error_type(error: str | None, status: Status) -> str:
    """The class of a failure: `OperationalError` of "OperationalError: ...", `WorkerLost`, or the status."""
    if error:
        if _LOST.match(error):
            return "WorkerLost"
        found = _CLASS.match(error)
        if found:
            return found.group(1)
    return str(status)


def engine_of(settings: dict[str, Any] | None) -> str | None:
    """`postgresql`, `mysql`, `sqlite`, ... from a database's Django ENGINE or SQLAlchemy URL scheme."""
    if not settings:
        return None
    if settings.get("ENGINE"):
        name = str(settings["ENGINE"]).rsplit(".", 1)[-1]
    elif settings.get("URL"):
        name = str(settings["URL"]).split(":", 1)[0].split("+", 1)[0]
    else:
        return None
    return _ENGINES.get(name.lower(), name.lower())


@dataclass
class RunFacts:
    """The run as its span describes it, and a way to name each database's server."""

    run_id: Callable[[], str | None]  # the journal's run id, once the journal is open
    command: str  # migrate, create, rollback
    executor: str
    jobs: int | None  # worker processes (None: Celery, the workers' own concurrency)
    started: float  # the report's time.monotonic() start
    host_of: Callable[[DbKey], str | None]  # "host:port", None for SQLite
    settings_of: Callable[[DbKey], dict[str, Any] | None]
    _servers: dict[tuple[str, str | None, str | None], dict[str, Any]] = field(default_factory=dict)

    def attributes(self) -> dict[str, Any]:
        """The run span's first attributes."""
        found: dict[str, Any] = {
            "tenant_router.command": self.command,
            "tenant_router.executor": self.executor,
        }
        if self.jobs is not None:
            found["tenant_router.jobs"] = self.jobs
        return found

    def server_attributes(self, key: DbKey) -> dict[str, Any]:
        """server.address, server.port, tenant_router.server ("host:port") and db.system.name of `key`."""
        if key.alias is None:
            return {}
        try:
            host = self.host_of(key)
        except Exception:  # a database whose settings cannot be read: its row says why
            return {}
        memo = (key.orm, key.alias, host)  # one engine per server and alias: the settings are read once
        found = self._servers.get(memo)
        if found is None:
            found = {}
            try:
                engine = engine_of(self.settings_of(key))
            except Exception:
                engine = None
            if engine:
                found["db.system.name"] = engine
            if host is not None:
                address, _, port = host.rpartition(":")
                found["tenant_router.server"] = host
                found["server.address"] = address
                if port.isdigit():
                    found["server.port"] = int(port)
            self._servers[memo] = found
        return found
