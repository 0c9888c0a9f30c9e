"""The standard OTEL_* environment variables, as far as tenant-router decides with them whether to export.

The OpenTelemetry SDK reads the rest itself (endpoints, headers, timeouts, the resource); this module only
says whether traces and metrics are wanted and through which exporters, without importing OpenTelemetry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ConfigurationError

KNOWN_EXPORTERS = ("otlp", "console", "none")
PROTOCOLS = ("http/protobuf", "grpc")


@dataclass(frozen=True, slots=True)
class OtelWish:
    """What the environment asks for: exporter names per signal (empty: that signal is off)."""

    traces: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    service_name_set: bool = False  # OTEL_SERVICE_NAME or service.name in OTEL_RESOURCE_ATTRIBUTES

    @property
    def wanted(self) -> bool:
        """Anything to export at all."""
        return bool(self.traces or self.metrics)


def _exporters(variable: str, endpoint_variable: str) -> tuple[str, ...]:
    env = os.environ
    named = env.get(variable, "").strip().lower()
    if not named:  # unset: the OTLP exporter, but only when an endpoint says where to send
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(endpoint_variable)
        return ("otlp",) if endpoint else ()
    names = tuple(dict.fromkeys(n.strip() for n in named.split(",") if n.strip()))
    for name in names:
        if name not in KNOWN_EXPORTERS:
            raise ConfigurationError(
                f"{variable}={env[variable]!r} names exporter {name!r}; tenant-router knows "
                f"{', '.join(KNOWN_EXPORTERS)}.",
                hint=f"Set {variable}=otlp (with OTEL_EXPORTER_OTLP_ENDPOINT), console, or unset it.",
            )
    return tuple(n for n in names if n != "none")


def otel_wish() -> OtelWish:
    """Read OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER and the OTLP endpoints now."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return OtelWish()
    traces = _exporters("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    metrics = _exporters("OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    service = bool(env.get("OTEL_SERVICE_NAME")) or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    return OtelWish(traces, metrics, service)


def otlp_protocol(signal: str) -> str:
    """OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf."""
    variable = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    if not os.environ.get(variable):
        variable = "OTEL_EXPORTER_OTLP_PROTOCOL"
    protocol = os.environ.get(variable, "").strip().lower() or "http/protobuf"
    if protocol not in PROTOCOLS:
        raise ConfigurationError(
            f"{variable}={protocol!r} is not an OTLP protocol tenant-router can send with.",
            hint="Use http/protobuf (tenant-router[otel]) or grpc (with opentelemetry-exporter-otlp-proto-grpc).",
        )
    return protocol


def span_queue_size() -> int | None:
    """None when OTEL_BSP_MAX_QUEUE_SIZE is set (the SDK reads it); else room for a burst of databases
    settled at once (thousands found up to date by the pre-flight), where the SDK's 2048 would drop spans."""
    return None if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") else 32768


def metric_interval_ms() -> float:
    """OTEL_METRIC_EXPORT_INTERVAL (milliseconds between metric exports; 60000)."""
    raw = os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip()
    try:
        value = float(raw) if raw else 60000.0
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigurationError(
            f"OTEL_METRIC_EXPORT_INTERVAL={raw!r} is not a number of milliseconds above 0.",
            hint="Unset it (60000) or give e.g. 15000.",
        )
    return value
