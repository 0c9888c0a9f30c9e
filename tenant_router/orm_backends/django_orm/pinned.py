"""One tenant's databases pinned while it is migrated, and the connection objects they are made of."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend


def open_wrapper(db_config: Mapping[str, Any], alias: str) -> BaseDatabaseWrapper:
    """A Django connection object for `db_config` that calls itself `alias` (not connected yet)."""
    settings = connections.configure_settings({"default": dict(db_config)})["default"]
    return load_backend(settings["ENGINE"]).DatabaseWrapper(settings, alias)


@dataclass
class PinnedDatabases:
    """One tenant's databases while it is migrated: given ones, and the others opened on first use."""

    tenant: str
    given: dict[str, BaseDatabaseWrapper]
    opener: Callable[[str], BaseDatabaseWrapper | None]  # alias -> connection, None: no such database
    opened: dict[str, BaseDatabaseWrapper] = field(default_factory=dict)

    def get(self, alias: str) -> BaseDatabaseWrapper | None:
        """The tenant's connection for `alias`, or None when the tenant has no database for it."""
        if alias in self.given:
            return self.given[alias]
        if alias not in self.opened:
            conn = self.opener(alias)
            if conn is None:
                return None
            self.opened[alias] = conn
        return self.opened[alias]

    def close(self) -> None:
        """Close what was opened on demand (the given connections belong to the caller)."""
        for conn in self.opened.values():
            conn.close()
        self.opened.clear()


_pinned: ContextVar[PinnedDatabases | None] = ContextVar("tenant_router_pinned", default=None)


def current_pinned() -> PinnedDatabases | None:
    """The databases pinned in this thread / task, or None."""
    return _pinned.get()


@contextmanager
def pinning(pinned: PinnedDatabases) -> Iterator[PinnedDatabases]:
    """Pin `pinned` for the block (this thread / task); what it opened on demand is closed afterwards."""
    token = _pinned.set(pinned)
    try:
        yield pinned
    finally:
        _pinned.reset(token)
        pinned.close()
