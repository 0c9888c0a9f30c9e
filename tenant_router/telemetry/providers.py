"""Where the run's spans and metrics go: providers a caller installed, the process's global SDK providers,
or tenant-router's own, built once per process from the OTEL_* variables (the SDK reads endpoint,
headers, timeout and resource attributes itself)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

from ..config.telemetry import OtelWish, metric_interval_ms, otlp_protocol, span_queue_size
from ..errors import ConfigurationError

DEFAULT_SERVICE_NAME = "tenant-router"


@dataclass(frozen=True, slots=True)
class Pipelines:
    """The providers one run reports to (None: that signal is off)."""

    tracer_provider: trace.TracerProvider | None
    meter_provider: metrics.MeterProvider | None

    def flush(self) -> None:
        """Hand what the run produced to the exporters now (a CLI exits right after the run)."""
        for provider in (self.tracer_provider, self.meter_provider):
            flush = getattr(provider, "force_flush", None)
            if flush is not None:
                flush()


class _ParentSpans(SpanExporter):
    """Sends only from the process that built it: forked workers inherit the queue and never send it."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner, self.pid = inner, os.getpid()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export(spans) if os.getpid() == self.pid else SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        if os.getpid() == self.pid:
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis) if os.getpid() == self.pid else True


class _ParentMetrics(MetricExporter):
    """As _ParentSpans: a forked worker's copy of the run's counters is never exported twice."""

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner, self.pid = inner, os.getpid()

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if os.getpid() != self.pid:
            return MetricExportResult.SUCCESS
        return self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis) if os.getpid() == self.pid else True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if os.getpid() == self.pid:
            self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def _missing(package: str, variable: str) -> ConfigurationError:
    return ConfigurationError(
        f"{variable} asks for OTLP over {package.split('-')[-1]}, but {package} is not installed.",
        hint="pip install 'tenant-router[otel]' (OTLP over http/protobuf), or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf.",
    )


def _span_exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter(out=sys.stderr)  # stdout is the run's own (--json)
    if otlp_protocol("traces") == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
        except ImportError:
            raise _missing("opentelemetry-exporter-otlp-proto-grpc", "OTEL_EXPORTER_OTLP_PROTOCOL") from None
        return Grpc()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise _missing("opentelemetry-exporter-otlp-proto-http", "OTEL_EXPORTER_OTLP_ENDPOINT") from None
    return OTLPSpanExporter()


def _metric_exporter(name: str) -> MetricExporter:
    if name == "console":
        return ConsoleMetricExporter(out=sys.stderr)
    if otlp_protocol("metrics") == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Grpc
        except ImportError:
            raise _missing("opentelemetry-exporter-otlp-proto-grpc", "OTEL_EXPORTER_OTLP_PROTOCOL") from None
        return Grpc()
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError:
        raise _missing("opentelemetry-exporter-otlp-proto-http", "OTEL_EXPORTER_OTLP_ENDPOINT") from None
    return OTLPMetricExporter()


def _resource(wish: OtelWish) -> Resource:
    # Resource.create() reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; ours is only the default
    return Resource.create({} if wish.service_name_set else {"service.name": DEFAULT_SERVICE_NAME})


_OWN: dict[OtelWish, Pipelines] = {}


def _own(wish: OtelWish) -> Pipelines:
    """tenant-router's own providers for `wish`, built on first use and kept for the process."""
    if wish in _OWN:
        return _OWN[wish]
    resource = _resource(wish)
    tracer_provider = None
    if wish.traces:
        exporters = [_span_exporter(name) for name in wish.traces]
        tracer_provider = SdkTracerProvider(resource=resource)
        for exporter in exporters:
            processor = BatchSpanProcessor(_ParentSpans(exporter), max_queue_size=span_queue_size())
            tracer_provider.add_span_processor(processor)
    meter_provider = None
    if wish.metrics:
        interval = metric_interval_ms()
        readers = [
            PeriodicExportingMetricReader(
                _ParentMetrics(_metric_exporter(name)), export_interval_millis=interval
            )
            for name in wish.metrics
        ]
        meter_provider = SdkMeterProvider(metric_readers=readers, resource=resource)
    _OWN[wish] = found = Pipelines(tracer_provider, meter_provider)
    return found


def pipelines(wish: OtelWish) -> Pipelines:
    """The process's global SDK providers where the application set them, else tenant-router's own."""
    own = None
    tracer_provider: trace.TracerProvider | None = None
    if wish.traces:
        tracer_provider = trace.get_tracer_provider()
        if not isinstance(tracer_provider, SdkTracerProvider):
            own = _own(wish)
            tracer_provider = own.tracer_provider
    meter_provider: metrics.MeterProvider | None = None
    if wish.metrics:
        meter_provider = metrics.get_meter_provider()
        if not isinstance(meter_provider, SdkMeterProvider):
            meter_provider = (own or _own(wish)).meter_provider
    return Pipelines(tracer_provider, meter_provider)
