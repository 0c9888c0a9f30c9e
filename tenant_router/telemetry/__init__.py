"""OpenTelemetry for migrate runs: a trace (run -> databases -> steps) and metrics, from the run's events.

Off unless the standard OTEL_* variables ask for an exporter (or a caller hands providers to
`install()`); then, and only then, OpenTelemetry is imported (`tenant-router[otel]`). Everything is
built in the run's process from the events the executors stream back: the workers import nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..config.telemetry import OtelWish, otel_wish
from ..executors.base import ExecutorSpec, resolve_jobs
from ..orm_backends.assistants import Assistants
from ..record.report import MigrationReport
from .facts import RunFacts

if TYPE_CHECKING:
    from .otel import RunTracer

_installed: tuple[Any, Any] | None = None
_warned = False


def install(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Send every later run's spans and metrics to these providers, whatever OTEL_* says (None, None: stop)."""
    global _installed
    _installed = (
        None if tracer_provider is None and meter_provider is None else (tracer_provider, meter_provider)
    )


def _pipelines(wish: OtelWish) -> Any:
    from .providers import Pipelines, pipelines

    if _installed is not None:
        return Pipelines(*_installed)
    return pipelines(wish)


def listener_for(
    report: MigrationReport, assistants: Assistants, executor: ExecutorSpec, command: str
) -> RunTracer | None:
    """The run's telemetry, already listening to `report`; None (nothing imported) when it is off."""
    global _warned
    wish = otel_wish()  # a wrong exporter name is a ConfigurationError before anything is touched
    if _installed is None and not wish.wanted:
        return None
    try:
        from .otel import RunTracer
    except ImportError as exc:  # the extra is not installed: the run goes on without telemetry
        if not _warned:
            _warned = True
            logging.getLogger("tenant_router").warning(
                "OTEL_* asks for telemetry but OpenTelemetry is not installed (%s): "
                "pip install 'tenant-router[otel]'.",
                exc.name,
            )
        return None
    facts = RunFacts(
        run_id=lambda: report.journal.run_id if report.journal is not None else None,  # opened later
        command=command,
        executor=executor.name,
        jobs=None if executor.name == "celery" else resolve_jobs(executor.jobs),
        started=report.started,
        host_of=assistants.host_of,
        settings_of=assistants.find_db_config,
    )
    tracer = RunTracer(_pipelines(wish), facts)
    report.add_listener(tracer)
    return tracer


def close(tracer: RunTracer | None, report: MigrationReport, aborted: bool) -> None:
    """End the run's span (counts, outcome) and flush; nothing when telemetry is off."""
    if tracer is None:
        return
    if report.interrupted:
        outcome = "interrupted"
    elif aborted:
        outcome = "aborted"
    else:
        outcome = "ok" if report.ok else "failed"
    counts = {status: count for status, count in report.counts().items() if count}
    try:
        tracer.close(counts, outcome, report.stop_reason)
    except Exception:  # telemetry never fails a run that is over
        logging.getLogger("tenant_router").warning("telemetry could not end the run's trace", exc_info=True)


__all__ = ["close", "install", "listener_for"]
