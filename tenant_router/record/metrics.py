"""A run's metrics in the Prometheus text format, for node_exporter's textfile collector (`--metrics-file`).

Folded from the run's own events (an on_event listener), into a registry of the run's own (never
prometheus_client's global one), written atomically (a temporary file in the same folder, then a rename:
`write_to_textfile`) when the run starts, every `interval` seconds while it runs, and when it ends. Labels
are the ORM key and the status only: never a tenant id (unbounded), an alias, a URL or a password.
prometheus_client is imported only when a metrics file is asked for (the `metrics` extra).
"""

from __future__ import annotations

import importlib
import math
import threading
import time
from pathlib import Path
from types import ModuleType

from ..errors import UsageError
from .events import (
    MigrationEvent,
    RunStarted,
    Status,
    StepApplied,
    TenantBusy,
    TenantFailed,
    TenantFinished,
    TenantRequeued,
    TenantRetried,
    TenantSkipped,
    WorkerLost,
)
from .keys import DbKey

DEFAULT_INTERVAL = 10.0
#: Seconds a database takes to migrate, and one migration step.
DATABASE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
#: Outcomes that were not a try at migrating the database: no duration observed.
UNTRIED = frozenset({Status.UP_TO_DATE, Status.DRIFTED, Status.MISSING})


def _prometheus() -> ModuleType:
    try:
        return importlib.import_module("prometheus_client")
    except ImportError:
        raise UsageError(
            "--metrics-file needs the prometheus_client package: pip install 'tenant-router[metrics]'."
        ) from None


class RunMetrics:
    """An on_event listener keeping a run's metrics, and the writer of its metrics file.

    `RunMetrics(path)` checks that prometheus_client is there and that `path` can be written (a
    UsageError naming --metrics-file otherwise); `start()` begins the periodic writes; `finish(code)`
    records the end and the exit code, writes the file a last time and stops the writes.
    """

    def __init__(self, path: Path, interval: float = DEFAULT_INTERVAL) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise UsageError(
                f"--metrics-interval must be a finite number of seconds above 0, got {interval:g}."
            )
        self._prom = prom = _prometheus()
        self.path, self.interval = path, interval
        self.registry = registry = prom.CollectorRegistry(auto_describe=True)
        gauge, counter, histogram = prom.Gauge, prom.Counter, prom.Histogram
        self.planned = gauge("tenant_router_run_databases_planned", "Databases the run set out to visit.",
                             registry=registry)  # fmt: skip
        self.databases = gauge("tenant_router_databases", "Databases by ORM and the status they ended in.",
                               ["orm", "status"], registry=registry)  # fmt: skip
        self.database_seconds = histogram(
            "tenant_router_database_duration_seconds", "Seconds each migrated or tried database took.",
            ["orm"], buckets=DATABASE_BUCKETS, registry=registry,
        )  # fmt: skip
        self.step_seconds = histogram(
            "tenant_router_step_duration_seconds", "Seconds each applied migration step took.",
            ["orm"], buckets=STEP_BUCKETS, registry=registry,
        )  # fmt: skip
        self.lock_waits = counter("tenant_router_lock_waits", "Steps that waited out --lock-wait (busy).",
                                  ["orm"], registry=registry)  # fmt: skip
        self.retries = counter("tenant_router_retries", "Databases tried again after a connection error.",
                               ["orm"], registry=registry)  # fmt: skip
        self.requeues = counter("tenant_router_requeues", "Busy databases sent to the back of the queue.",
                                ["orm"], registry=registry)  # fmt: skip
        self.workers_lost = counter("tenant_router_workers_lost", "Workers that died or stopped beating.",
                                    registry=registry)  # fmt: skip
        gauge("tenant_router_run_start_timestamp_seconds", "When the run started (Unix time).",
              registry=registry).set(time.time())  # fmt: skip
        self._outcomes: dict[DbKey, tuple[str, str]] = {}
        self._lock = threading.Lock()  # one writer at a time: the periodic one or the last
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None  # why the last write failed, if it did
        try:
            self._prom.write_to_textfile(str(path), registry)
        except OSError as exc:
            raise UsageError(
                f"--metrics-file {str(path)!r} cannot be written: {exc.strerror or exc}."
            ) from None

    # -- the fold ---------------------------------------------------------------------------------
    def __call__(self, event: MigrationEvent) -> None:
        """Fold one event of the run into the metrics."""
        match event:
            case RunStarted(planned=planned, orms=orms):
                self.planned.set(planned)
                for orm in orms:
                    self._touch(orm)
            case WorkerLost():
                self.workers_lost.inc()
            case StepApplied(orm=orm, seconds=seconds):
                self.step_seconds.labels(orm).observe(seconds)
            case TenantBusy(orm=orm):
                self.lock_waits.labels(orm).inc()
            case TenantRetried(orm=orm):
                self.retries.labels(orm).inc()
            case TenantRequeued(orm=orm):
                self.requeues.labels(orm).inc()
            case TenantFinished() | TenantFailed() | TenantSkipped():
                self._settled(event)

    def _touch(self, orm: str) -> None:
        """Every series of an ORM exists from the start, at 0: an alert on `failed > 0` sees a 0."""
        for status in Status:
            self.databases.labels(orm, str(status))
        for labelled in (
            self.database_seconds,
            self.step_seconds,
            self.lock_waits,
            self.retries,
            self.requeues,
        ):
            labelled.labels(orm)

    def _settled(self, event: TenantFinished | TenantFailed | TenantSkipped) -> None:
        key = DbKey(event.orm, event.tenant, event.alias)
        before = self._outcomes.get(key)
        if before is not None:  # a database is counted once, in the status it ended in last
            self.databases.labels(*before).dec()
        self._touch(event.orm)
        self._outcomes[key] = (event.orm, str(event.status))
        self.databases.labels(event.orm, str(event.status)).inc()
        if not isinstance(event, TenantSkipped) and event.status not in UNTRIED:
            self.database_seconds.labels(event.orm).observe(event.seconds)

    # -- the file ---------------------------------------------------------------------------------
    def write(self) -> bool:
        """Write the file now (atomically); False, with `error` set, when it could not be written."""
        with self._lock:
            try:
                self._prom.write_to_textfile(str(self.path), self.registry)
            except OSError as exc:
                self.error = f"{self.path}: {exc.strerror or exc}"
                return False
            return True

    def start(self) -> None:
        """Write the file every `interval` seconds until finish()."""
        self._thread = threading.Thread(target=self._every, name="tenant-router-metrics", daemon=True)
        self._thread.start()

    def _every(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def finish(self, exit_code: int) -> str | None:
        """The run ended with `exit_code`: record it, write the file a last time. Why that write
        failed, or None."""
        if self._stop.is_set():  # finished already
            return self.error
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        prom, registry = self._prom, self.registry
        prom.Gauge("tenant_router_run_end_timestamp_seconds", "When the run ended (Unix time).",
                   registry=registry).set(time.time())  # fmt: skip
        prom.Gauge("tenant_router_run_exit_code", "The exit code of the run (0 ok; see the README).",
                   registry=registry).set(exit_code)  # fmt: skip
        return None if self.write() else self.error

    def __repr__(self) -> str:
        return f"RunMetrics({str(self.path)!r}, interval={self.interval:g})"
