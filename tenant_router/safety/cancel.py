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
_asked = False  # request_stop() in this process
#: Asked along with the flag (a Celery worker: "is the run still alive?"); True stops the run like the flag.
_guard: Callable[[], bool] | None = None


class StopAtBoundary(TenantRouterError):
    """Raised between two migrations of a database when the run was asked to stop."""


class StopBeforeStart(StopAtBoundary):
    """The run was asked to stop before this database's work began (e.g. while waiting for its lock)."""


def reset() -> None:
    """A fresh, unset flag for a new run (called before any worker forks)."""
    global _flag, _asked
    _flag, _asked = multiprocessing.get_context("fork").Event(), False


def request_stop() -> None:
    """Ask the run to start no new database and to stop running ones at a migration boundary.

    Safe in a signal handler: it only sets a flag of this process (the shared Event takes a lock, which
    the interrupted code may hold: setting it there deadlocked a run); this process's next
    stop_requested() passes it on to the workers."""
    global _asked
    _asked = True


def stop_asked_here() -> bool:
    """request_stop() was called in this process (no lock taken: for signal handlers)."""
    return _asked


def stop_requested() -> bool:
    """True once request_stop() was called during this run, here or in another of its processes (or
    the guard said stop)."""
    if _asked:
        if _flag is not None and not _flag.is_set():
            _flag.set()  # passed on to the workers, outside any signal handler
        return True
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
