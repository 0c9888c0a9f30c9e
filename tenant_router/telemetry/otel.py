"""A run's trace, built in the run's process from the events its executor streams back.

One span for the run, one per database (its child), one per migration step (the database's child). Spans
are made when a database settles, with start and end times taken from when the events arrived and the
durations they carry, so work done in forked workers or on Celery workers joins the run's trace without
the workers knowing anything of OpenTelemetry. Attributes hold names and numbers only, never a URL.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..record.events import (
    FINAL_EVENTS,
    MigrationEvent,
    OutputLogged,
    RunStarted,
    StepApplied,
    StepStarted,
    TenantBusy,
    TenantFailed,
    TenantPlanned,
    TenantRequeued,
    TenantRetried,
    TenantStarted,
    WorkerLost,
)
from ..record.events import Status as DbStatus
from ..record.keys import DbKey
from .facts import RunFacts, error_type, scrub
from .metrics import RunMetrics
from .providers import Pipelines

#: Database outcomes that mark its span (and the run's) as an error.
ERRORS = frozenset(
    {DbStatus.FAILED, DbStatus.BUSY, DbStatus.LOCKED, DbStatus.DRIFTED, DbStatus.MISSING, DbStatus.UNKNOWN}
)
_NS = 1_000_000_000


@dataclass(slots=True)
class _Step:
    name: str
    start: int
    end: int = 0
    outcome: str = "running"
    seconds: float | None = None


@dataclass(slots=True)
class _Database:
    start: int | None = None  # when the run first heard it start (ns)
    source: str | None = None  # the step applied before this run
    target: str | None = None  # the last planned step
    pending: int | None = None
    steps: list[_Step] = field(default_factory=list)
    retried: int = 0
    requeued: int = 0
    lock_waits: int = 0


def _ns(seconds: float) -> int:
    return int(seconds * _NS)


class RunTracer:
    """A report listener turning one run's events into spans and metrics."""

    def __init__(self, pipelines: Pipelines, facts: RunFacts) -> None:
        self.pipelines, self.facts = pipelines, facts
        provider = pipelines.tracer_provider
        self.tracer = provider.get_tracer("tenant_router") if provider is not None else None
        self.metrics = RunMetrics(pipelines.meter_provider) if pipelines.meter_provider is not None else None
        self.started = time.time_ns() - _ns(time.monotonic() - facts.started)
        self.databases: dict[DbKey, _Database] = {}
        self.run_span: Any = None
        self.broken = False
        self.context: Any = None
        if self.tracer is not None:
            self.run_span = self.tracer.start_span(
                "tenant_router.run",
                kind=SpanKind.INTERNAL,
                start_time=self.started,
                attributes=facts.attributes(),
            )
            self.context = trace.set_span_in_context(self.run_span)

    # -- the listener -----------------------------------------------------------------------------
    def __call__(self, event: MigrationEvent) -> None:
        """Take one event of the run (the report calls this for each, in order); never fails the run."""
        if self.broken:
            return
        try:
            self._take(event, time.time_ns())
        except Exception:  # telemetry must never stop a migration: say so once, then stay quiet
            self.broken = True
            logging.getLogger("tenant_router").warning("telemetry stopped for this run", exc_info=True)

    def _take(self, event: MigrationEvent, now: int) -> None:
        if isinstance(event, RunStarted):
            if self.run_span is not None:
                run_id = self.facts.run_id()
                if run_id is not None:
                    self.run_span.set_attribute("tenant_router.run.id", run_id)
                self.run_span.set_attribute("tenant_router.planned", event.planned)
                self.run_span.set_attribute("tenant_router.orms", list(event.orms))
            return
        if isinstance(event, WorkerLost):  # the run's own event: its databases settle right after
            if self.metrics is not None:
                self.metrics.workers_lost.add(1)
            return
        if isinstance(event, OutputLogged):  # what the migrations wrote: the journal keeps it
            return
        key = DbKey(event.orm, event.tenant, event.alias)
        db = self.databases.get(key)
        if db is None:
            db = self.databases[key] = _Database()
        match event:
            case TenantStarted():
                db.start = now if db.start is None else db.start
            case TenantPlanned(steps=steps, current=current):
                db.source, db.pending = current, len(steps)
                db.target = steps[-1] if steps else current
            case StepStarted(step=step):
                db.steps.append(_Step(step, now))
            case StepApplied(step=step, seconds=seconds):
                self._end_step(db, step, now, "applied", seconds)
                if self.metrics is not None:
                    self.metrics.step_duration.record(seconds, {"orm": key.orm, "outcome": "applied"})
            case TenantBusy(step=step):
                db.lock_waits += 1
                self._fail_step(key, db, step, now, "busy")
                if self.metrics is not None:
                    self.metrics.lock_waits.add(1, {"orm": key.orm})
            case TenantRetried():
                db.retried += 1
                if self.metrics is not None:
                    self.metrics.retries.add(1, {"orm": key.orm})
            case TenantRequeued():
                db.requeued += 1
                if self.metrics is not None:
                    self.metrics.requeues.add(1, {"orm": key.orm})
        if isinstance(event, FINAL_EVENTS):
            del self.databases[key]
            self._settle(key, db, event, now)

    def _end_step(self, db: _Database, name: str, now: int, outcome: str, seconds: float | None) -> None:
        step = next((s for s in reversed(db.steps) if s.name == name and s.outcome == "running"), None)
        if step is None:
            step = _Step(name, now - _ns(seconds or 0.0))
            db.steps.append(step)
        if seconds is not None:  # events of a Celery batch arrive together: trust the measured time
            step.start = min(step.start, now - _ns(seconds))
        step.end, step.outcome, step.seconds = now, outcome, seconds

    def _fail_step(self, key: DbKey, db: _Database, name: str | None, now: int, outcome: str) -> None:
        running = any(s.name == name and s.outcome == "running" for s in db.steps)
        if name is None or (not running and any(s.name == name for s in db.steps)):
            return  # that step's end is known already (a busy step, then the database settled busy)
        self._end_step(db, name, now, outcome, None)
        step = db.steps[-1] if db.steps and db.steps[-1].name == name else None
        if step is not None and self.metrics is not None:
            step.seconds = (step.end - step.start) / _NS
            self.metrics.step_duration.record(step.seconds, {"orm": key.orm, "outcome": outcome})

    # -- one database settles ---------------------------------------------------------------------
    def _settle(self, key: DbKey, db: _Database, event: Any, now: int) -> None:
        status: DbStatus = event.status
        seconds = float(getattr(event, "seconds", 0.0))
        if isinstance(event, TenantFailed):
            self._fail_step(key, db, event.step, now, "failed" if status is DbStatus.FAILED else str(status))
        for step in db.steps:
            if step.outcome == "running":  # the database ended while this step was under way
                step.end, step.outcome = now, str(status)
        if self.metrics is not None:
            attrs = {"orm": key.orm, "status": str(status)}
            self.metrics.databases.add(1, attrs)
            if status not in (DbStatus.SKIPPED, DbStatus.NOT_STARTED):  # no work, no duration
                self.metrics.database_duration.record(seconds, attrs)
        if self.tracer is None:
            return
        start = min([now - _ns(seconds), *([db.start] if db.start else []), *(s.start for s in db.steps)])
        start = max(start, self.started)
        span = self.tracer.start_span(
            "tenant_router.database",
            context=self.context,
            kind=SpanKind.INTERNAL,
            start_time=start,
            attributes=self._database_attributes(key, db, event),
        )
        if status in ERRORS:
            kind = error_type(getattr(event, "error", None), status)
            span.set_attribute("error.type", kind)
            span.set_status(Status(StatusCode.ERROR, scrub(getattr(event, "error", None) or str(status))))
        inside = trace.set_span_in_context(span)
        for step in db.steps:
            self._step_span(step, inside, start, now)
        span.end(end_time=now)

    def _step_span(self, step: _Step, context: Any, floor: int, ceiling: int) -> None:
        assert self.tracer is not None
        begin = min(max(step.start, floor), ceiling)
        attributes: dict[str, Any] = {
            "tenant_router.step": step.name,
            "tenant_router.step.outcome": step.outcome,
        }
        seconds = step.seconds if step.seconds is not None else (step.end - step.start) / _NS
        attributes["tenant_router.step.seconds"] = round(seconds, 6)
        span = self.tracer.start_span(
            "tenant_router.step",
            context=context,
            kind=SpanKind.INTERNAL,
            start_time=begin,
            attributes=attributes,
        )
        if step.outcome not in ("applied", "running"):
            span.set_status(Status(StatusCode.ERROR, step.outcome))
        span.end(end_time=min(max(step.end, begin), ceiling))

    def _database_attributes(self, key: DbKey, db: _Database, event: Any) -> dict[str, Any]:
        found: dict[str, Any] = {"tenant_router.orm": key.orm, "tenant_router.status": str(event.status)}
        if key.tenant is not None:
            found["tenant_router.tenant"] = key.tenant
        if key.alias is not None:
            found["tenant_router.alias"] = key.alias
        found["tenant_router.reserved"] = key.tenant is None
        found.update(self.facts.server_attributes(key))
        current = getattr(event, "current", None)
        for name, value in (
            ("tenant_router.migration.from", db.source),
            ("tenant_router.migration.to", current),
            ("tenant_router.migration.target", db.target),
            ("tenant_router.pending", db.pending),
            ("tenant_router.seconds", round(float(getattr(event, "seconds", 0.0)), 6)),
            ("tenant_router.applied", sum(1 for s in db.steps if s.outcome == "applied")),
            ("tenant_router.retried", db.retried),
            ("tenant_router.requeued", db.requeued),
            ("tenant_router.lock_waits", db.lock_waits),
        ):
            if value is not None:
                found[name] = value
        if isinstance(event, TenantFailed) and event.step is not None:
            found["tenant_router.failed_step"] = event.step
        reason = getattr(event, "reason", None) or getattr(event, "note", None)
        if reason:
            found["tenant_router.reason"] = scrub(reason)
        return found

    # -- the run ends -----------------------------------------------------------------------------
    def close(self, counts: dict[str, int], outcome: str, stopped: str | None) -> None:
        """End the run's span with its counts and outcome and hand everything to the exporters."""
        now = time.time_ns()
        if self.run_span is not None:
            span = self.run_span
            for status, count in counts.items():
                span.set_attribute(f"tenant_router.databases.{status}", count)
            span.set_attribute("tenant_router.databases", sum(counts.values()))
            span.set_attribute("tenant_router.outcome", outcome)
            if stopped:
                span.set_attribute("tenant_router.stopped", scrub(stopped))
            if outcome != "ok":
                span.set_status(Status(StatusCode.ERROR, outcome))
            span.end(end_time=now)
        self.pipelines.flush()
