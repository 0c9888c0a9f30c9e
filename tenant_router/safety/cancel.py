"""Stopping a run: no new database starts, running ones stop at their next migration boundary.

The flag is a multiprocessing Event made before workers fork, so they see it too. The CLI sets it
from its SIGINT/SIGTERM handlers; a library caller may call `request_stop()` from its own.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.synchronize import Event

from ..errors import TenantRouterError

_flag: Event | None = None
#: Asked along with the flag (a Celery worker: "is the run still alive?"); True stops the run like the flag.
_guard: Callable[[], bool] | None = None


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
    """True once request_stop() was called during this run (or the guard said stop)."""
    if _flag is not None and _flag.is_set():
        return True
    if _guard is not None and _guard():
        request_stop()
        return True
    return False


def set_guard(guard: Callable[[], bool] | None) -> None:
    """Also stop when `guard()` says so, asked before each database and at each migration boundary
    (None: no guard). A Celery worker's: the run's lease has lapsed."""
    global _guard
    _guard = guard
