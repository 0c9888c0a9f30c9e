"""The run's OpenTelemetry metrics: databases by status, durations, lock waits, retries, requeues, lost workers."""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider

#: Seconds: a step takes milliseconds to many minutes; the SDK's default buckets are for milliseconds.
SECONDS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)


class RunMetrics:
    """The instruments one run records into (attributes: `orm`, and `status` or `outcome`)."""

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter("tenant_router")
        self.databases = meter.create_counter(
            "tenant_router.databases", unit="{database}", description="Databases settled, by ORM and status."
        )
        self.database_duration = meter.create_histogram(
            "tenant_router.database.duration",
            unit="s",
            description="Time spent on one database (its last attempt), by ORM and status.",
            explicit_bucket_boundaries_advisory=SECONDS,
        )
        self.step_duration = meter.create_histogram(
            "tenant_router.step.duration",
            unit="s",
            description="Time one migration step took, by ORM and outcome.",
            explicit_bucket_boundaries_advisory=SECONDS,
        )
        self.lock_waits = meter.create_counter(
            "tenant_router.lock_waits",
            unit="{step}",
            description="Steps that gave up waiting for a lock (--lock-wait).",
        )
        self.retries = meter.create_counter(
            "tenant_router.retries",
            unit="{attempt}",
            description="Databases tried again after a lost connection.",
        )
        self.requeues = meter.create_counter(
            "tenant_router.requeues", unit="{database}", description="Busy databases put back in the queue."
        )
        self.workers_lost = meter.create_counter(
            "tenant_router.workers_lost",
            unit="{worker}",
            description="Worker processes or Celery workers lost mid-database.",
        )
