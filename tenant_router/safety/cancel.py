"""Stopping a run: no new database starts, running ones stop at their next migration boundary.

The flag is a multiprocessing Event made before workers fork, so they see it too. The CLI sets it
from its SIGINT/SIGTERM handlers; a library caller may call `request_stop()` from its own.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Event

from ..errors import TenantRouterError

_flag: Event | None = None


class StopAtBoundary(TenantRouterError):
    """Raised between two migrations of a database when the run was asked to stop."""


class StopBeforeStart(StopAtBoundary):
    """The run was asked to stop before this database's work began (e.g. while waiting for its lock)."""


def reset() -> None:
    """A fresh, unset flag for a new run (called before any worker forks)."""
    global _flag
    _flag = multiprocessing.get_context("fork").Event()


def request_stop() -> None:
    """Ask the run to start no new database and to stop running ones at a migration boundary."""
    if _flag is not None:
        _flag.set()


def stop_requested() -> bool:
    """True once request_stop() was called during this run."""
    return _flag is not None and _flag.is_set()
