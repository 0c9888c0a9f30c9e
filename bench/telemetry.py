"""What OpenTelemetry costs a run: the same SQLite fleet migrated with telemetry off and on.

A by-hand benchmark (no thresholds, no CI). The clinic example is copied to a temporary folder with
`--tenants` tenants (a Django and an Alembic SQLite database each); every timed run starts from new,
empty files and is the real CLI in its own process (`migrate --jobs J --no-journal`), so the times
include importing OpenTelemetry and flushing at the end. "on" sends traces and metrics over OTLP/HTTP
to a receiver in this process (it decodes each request and counts the spans).

    .venv/bin/python bench/telemetry.py --tenants 200 --jobs 4 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP endpoint counting the spans and metric requests it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans = 0
        self.metric_requests = 0


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server: Any = self.server
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            server.spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        else:
            server.metric_requests += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def fleet(folder: Path, tenants: int) -> Path:
    """The clinic example in `folder` with `tenants` tenants; returns the example's folder."""
    example = folder / "clinic"
    shutil.copytree(
        ROOT / "examples" / "clinic", example, ignore=shutil.ignore_patterns("*.sqlite3", "*.jsonl")
    )
    var = example / "var"
    config = {
        f"tenant-{i}": {
            "clinic": {
                "orm_config": {
                    "django_orm": {"default": {"NAME": str(var / f"tenant-{i}.sqlite3")}},
                    "sqlalchemy_orm": {"default": {"URL": f"sqlite:///{var / f'tenant-{i}-sa.sqlite3'}"}},
                }
            }
        }
        for i in range(1, tenants + 1)
    }
    (example / "tenant_config.json").write_text(json.dumps({"tenant_config": config}))
    return example


def one_run(example: Path, jobs: int, otel: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (the run's process and its workers) of one `migrate` from empty files, and
    its JSON Lines."""
    for path in (example / "var").glob("*.sqlite3"):
        path.unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TENANT_ROUTER_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.update(otel)
    command = [sys.executable, "-m", "tenant_router_cli", "migrate", "--settings", "clinic.settings"]
    command += ["--pythonpath", str(example), "--jobs", str(jobs), "--no-journal", "--json"]
    began, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, cwd=example, env=env, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - began, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"migrate exited {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds, cpu, done.stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def listener_cost(stdout: str, endpoint: str, repeat: int = 5) -> tuple[float, float, int]:
    """CPU and wall seconds the run's process spends in the telemetry listener for one run's events
    (replayed from its JSON Lines, OTLP export and the final flush included), and the databases."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from tenant_router.executors.wire import decode_event
    from tenant_router.telemetry.facts import RunFacts
    from tenant_router.telemetry.otel import RunTracer
    from tenant_router.telemetry.providers import Pipelines

    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    databases = sum(
        1 for d in lines if d.get("event") in ("tenant_finished", "tenant_failed", "tenant_skipped")
    )
    events = [
        decode_event({"kind": d.pop("event"), **d}) for d in lines if d.get("event") not in (None, "report")
    ]
    tracer_provider = TracerProvider()
    exporter_ = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")
    tracer_provider.add_span_processor(
        BatchSpanProcessor(exporter_, max_queue_size=32768)
    )  # as tenant-router does
    exporter = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics")
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporter)])
    pipelines = Pipelines(tracer_provider, meter_provider)
    settings = {"ENGINE": "django.db.backends.sqlite3"}
    cpu_times, wall_times = [], []
    for _ in range(repeat):
        facts = RunFacts(
            lambda: None, "migrate", "processes", 2, time.monotonic(), lambda k: None, lambda k: settings
        )
        cpu, wall = time.process_time(), time.perf_counter()
        tracer = RunTracer(pipelines, facts)
        for event in events:
            tracer(event)
        tracer.close({"migrated": databases}, "ok", None)
        cpu_times.append(time.process_time() - cpu)
        wall_times.append(time.perf_counter() - wall)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return statistics.median(cpu_times), statistics.median(wall_times), databases


def main() -> None:
    """Time the fleet with telemetry off and on; print the overhead per database."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    modes = {
        "off": {},
        "on (OTLP/HTTP, traces + metrics)": {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        },
    }
    times: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
    stdout = ""
    with tempfile.TemporaryDirectory(prefix="tr-bench-otel-") as tmp:
        example = fleet(Path(tmp), args.tenants)
        one_run(example, args.jobs, {})  # warm-up: bytecode caches, the file system
        for _ in range(args.repeat):  # interleaved, so a slow minute hits both modes alike
            for mode, env in modes.items():
                seconds, cpu, out = one_run(example, args.jobs, env)
                times[mode].append((seconds, cpu))
                stdout = out if mode == "off" else stdout
    fleet_spans = receiver.spans
    cpu, wall, databases = listener_cost(stdout, endpoint)
    receiver.shutdown()
    off_wall = statistics.median(t[0] for t in times["off"])
    off_cpu = statistics.median(t[1] for t in times["off"])
    print(
        f"{args.tenants} tenants, {databases} databases, --jobs {args.jobs}, {args.repeat} runs each (median)"
    )
    for mode, found in times.items():
        wall_s = statistics.median(t[0] for t in found)
        cpu_s = statistics.median(t[1] for t in found)
        runs = ", ".join(f"{t[0]:.1f}" for t in found)
        print(
            f"  {mode:34} wall {wall_s:6.2f} s [{runs}] {(wall_s - off_wall) / databases * 1000:+6.2f} ms/db;"
            f"  CPU {cpu_s:6.2f} s {(cpu_s - off_cpu) / databases * 1000:+6.2f} ms/db"
        )
    print(
        "  the listener alone, one run's events replayed in process (OTLP export and flush included): "
        f"{cpu / databases * 1e6:.0f} µs CPU, {wall / databases * 1e6:.0f} µs wall per database"
    )
    print(f"  spans received from the fleet runs: {fleet_spans} ({fleet_spans // max(args.repeat, 1)} a run); "
          f"metric requests: {receiver.metric_requests}")  # fmt: skip


if __name__ == "__main__":
    main()
