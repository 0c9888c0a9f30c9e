"""Issue 21, OpenTelemetry: a run is one trace (run -> databases -> steps) and a few metrics, built in the
run's process from its events; real SDK, in-memory exporters, and a real OTLP/HTTP receiver."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from support.celery_workers import Workers, redis_db, require_redis, unique_queue
from support.paths import ROOT
from support.processes import clean_environment, run
from support.sites import TenantSite

from tenant_router import telemetry
from tenant_router_cli.exit_codes import ExitCode

SECRET = "s3cr3t-otel-pw"
PG_URL = f"postgres://trt_otel_nobody:{SECRET}@127.0.0.1:5432/trt_otel_nowhere"


@pytest.fixture
def otel() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    """In-memory trace and metric pipelines handed to tenant-router for one test (no OTEL_* needed)."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.install(tracer_provider, meter_provider)
    try:
        yield spans, reader
    finally:
        telemetry.install(None, None)
        tracer_provider.shutdown()
        meter_provider.shutdown()


def texts(span: ReadableSpan) -> list[str]:
    """Every string a span carries: attribute values, status, events."""
    found = [str(v) for v in (span.attributes or {}).values()]
    found.append(span.status.description or "")
    for event in span.events:
        found += [event.name, *(str(v) for v in (event.attributes or {}).values())]
    return found


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def test_a_jobs_2_run_is_one_trace_with_every_database_and_step(
    site: TenantSite, otel: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    exporter, reader = otel
    site.db("tenant-2").execute("CREATE TABLE tr_kill_me (id integer)")  # its worker dies mid-migration
    site.db("tenant-3").execute("CREATE TABLE patients_patient (id integer)")  # its first step fails
    site.extra_tenants = {"pg": {"clinic": {"orm_config": {"django_orm": {"default": {"URL": PG_URL}}}}}}

    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "2", "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    spans = list(exporter.get_finished_spans())
    assert len({s.context.trace_id for s in spans}) == 1
    [root] = named(spans, "tenant_router.run")
    assert root.parent is None
    assert root.status.status_code is StatusCode.ERROR
    attrs = root.attributes or {}
    assert attrs["tenant_router.run.id"] == report["run"]
    assert attrs["tenant_router.command"] == "migrate"
    assert (attrs["tenant_router.executor"], attrs["tenant_router.jobs"]) == ("processes", 2)
    assert attrs["tenant_router.outcome"] == "failed"
    assert attrs["tenant_router.databases.failed"] == report["counts"]["failed"] == 3
    assert attrs["tenant_router.databases.migrated"] == report["counts"]["migrated"]

    databases = {
        (s.attributes or {}).get("tenant_router.tenant"): s for s in named(spans, "tenant_router.database")
    }
    assert len(named(spans, "tenant_router.database")) == len(report["results"])
    assert set(databases) == {r["tenant"] for r in report["results"]}
    rows = {r["tenant"]: r for r in report["results"]}
    for tenant, span in databases.items():
        a = span.attributes or {}
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert (a["tenant_router.orm"], a.get("tenant_router.alias")) == ("django_orm", rows[tenant]["alias"])
        assert a["tenant_router.status"] == rows[tenant]["status"], tenant
        assert root.start_time <= span.start_time <= span.end_time <= root.end_time
    ok = databases["tenant-1"]
    assert ok.attributes["db.system.name"] == "sqlite"
    assert ok.attributes["tenant_router.migration.to"] == rows["tenant-1"]["current"]
    assert "tenant_router.migration.from" not in (ok.attributes or {})  # a new database: nothing applied
    assert ok.status.status_code is StatusCode.UNSET
    steps = [s for s in named(spans, "tenant_router.step") if s.parent.span_id == ok.context.span_id]
    assert [s.attributes["tenant_router.step"] for s in steps] == rows["tenant-1"]["applied"]
    assert all(s.attributes["tenant_router.step.outcome"] == "applied" for s in steps)
    assert all(ok.start_time <= s.start_time <= s.end_time <= ok.end_time for s in steps)

    lost, broken, pg = databases["tenant-2"], databases["tenant-3"], databases["pg"]
    for span, error_type in ((lost, "WorkerLost"), (broken, "OperationalError")):
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == error_type
    broken_steps = [
        s for s in named(spans, "tenant_router.step") if s.parent.span_id == broken.context.span_id
    ]
    [failed_step] = [s for s in broken_steps if s.attributes["tenant_router.step.outcome"] != "applied"]
    assert failed_step.attributes["tenant_router.step"] == rows["tenant-3"]["failed_step"]
    assert failed_step.attributes["tenant_router.step.outcome"] == "failed"
    assert len(broken_steps) == len(rows["tenant-3"]["applied"]) + 1
    assert failed_step.status.status_code is StatusCode.ERROR
    assert pg.status.status_code is StatusCode.ERROR
    assert pg.attributes["tenant_router.server"] == "127.0.0.1:5432"
    assert (pg.attributes["server.address"], pg.attributes["server.port"]) == ("127.0.0.1", 5432)
    assert pg.attributes["db.system.name"] == "postgresql"
    everything = [text for span in spans for text in texts(span)]
    assert not [t for t in everything if SECRET in t or "://" in t], everything

    points = metric_points(reader)
    by_status = {p.attributes["status"]: p.value for p in points["tenant_router.databases"]}
    assert by_status == {k: v for k, v in report["counts"].items() if v}
    assert sum(p.count for p in points["tenant_router.database.duration"]) == len(report["results"])
    applied = sum(len(r["applied"]) for r in report["results"])
    assert (
        sum(p.count for p in points["tenant_router.step.duration"] if p.attributes["outcome"] == "applied")
        == applied
    )
    assert sum(p.value for p in points["tenant_router.workers_lost"]) == 1


def test_a_wrong_exporter_name_is_one_line_naming_the_variable(
    site: TenantSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin-please")

    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1")

    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "OTEL_TRACES_EXPORTER" in result.stderr and "zipkin-please" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(db.table_names() for db in site.databases)  # nothing was touched


def clinic_copy(tmp_path: Path) -> Path:
    example = tmp_path / "clinic"
    shutil.copytree(
        ROOT / "examples" / "clinic",
        example,
        ignore=shutil.ignore_patterns("*.sqlite3", "*.lock", ".tenant-router"),
    )
    return example


PROBE = """
import sys
from tenant_router_cli.app import main
sys.argv = ["tenant-router", "migrate", "--settings", "clinic.settings", "--pythonpath", ".", "--jobs", "2"]
try:
    main()
except SystemExit as exc:
    print("exit", exc.code, file=sys.stderr)
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


@pytest.mark.parametrize(
    "otel_env",
    [
        {},
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_SERVICE_NAME": "x"},
    ],
    ids=["unset", "sdk-disabled", "exporters-none"],
)
def test_without_otel_variables_nothing_is_imported(tmp_path: Path, otel_env: dict[str, str]) -> None:
    example = clinic_copy(tmp_path)
    env = {k: v for k, v in clean_environment().items() if not k.startswith("OTEL_")} | otel_env

    result = run([sys.executable, "-c", PROBE], cwd=example, env=env)

    assert "exit 0" in result.stderr, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_without_the_extra_the_run_goes_on_and_says_so_once(tmp_path: Path) -> None:
    example = clinic_copy(tmp_path)
    env = clean_environment(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_TRACES_EXPORTER="otlp")
    hidden = (
        "import sys; sys.modules['opentelemetry'] = None  # as if tenant-router[otel] were not installed\n"
    )

    result = run([sys.executable, "-c", hidden + PROBE], cwd=example, env=env)

    assert "exit 0" in result.stderr, result.stderr
    assert result.stderr.count("pip install 'tenant-router[otel]'") == 1, result.stderr
    assert "Traceback" not in result.stderr


class Receiver(ThreadingHTTPServer):
    """A tiny OTLP/HTTP endpoint: keeps each POST body by path."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: dict[str, list[bytes]] = {}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.bodies.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _requests(receiver: Receiver) -> list[Any]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return [ExportTraceServiceRequest.FromString(body) for body in receiver.bodies.get("/v1/traces", [])]


def received_spans(receiver: Receiver) -> list[Any]:
    """Every span the receiver was sent (protobuf Span messages)."""
    found = []
    for request in _requests(receiver):
        for resource_spans in request.resource_spans:
            for scope in resource_spans.scope_spans:
                found.extend(scope.spans)
    return found


def received_resources(receiver: Receiver) -> list[dict[str, str]]:
    """The resource of every batch of spans the receiver was sent."""
    return [
        {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for request in _requests(receiver)
        for resource_spans in request.resource_spans
    ]


def test_spans_and_metrics_reach_an_otlp_http_receiver(tmp_path: Path, receiver: Receiver) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    example = clinic_copy(tmp_path)
    port = receiver.server_address[1]
    env = clean_environment(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
    )
    command = [sys.executable, "-m", "tenant_router_cli", "migrate", "--settings", "clinic.settings"]

    result = run([*command, "--pythonpath", str(example), "--jobs", "2"], cwd=example, env=env)

    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    spans, resources = received_spans(receiver), received_resources(receiver)
    assert resources and all(r["service.name"] == "tenant-router" for r in resources), resources
    assert all(r["deployment.environment.name"] == "test" for r in resources)
    [root] = [s for s in spans if s.name == "tenant_router.run"]
    databases = [s for s in spans if s.name == "tenant_router.database"]
    assert len(databases) == 7  # the central database, then 3 tenants x (Django, Alembic)
    assert {s.trace_id for s in spans} == {root.trace_id}
    assert {s.parent_span_id for s in databases} == {root.span_id}
    assert [s for s in spans if s.name == "tenant_router.step"]
    names = set()
    for body in receiver.bodies.get("/v1/metrics", []):
        for resource_metrics in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            names |= {m.name for scope in resource_metrics.scope_metrics for m in scope.metrics}
    assert {
        "tenant_router.databases",
        "tenant_router.database.duration",
        "tenant_router.step.duration",
    } <= names


def test_a_requeued_then_busy_database_says_so_in_its_span_and_the_metrics(
    site: TenantSite, otel: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    exporter, reader = otel
    setup = site.invoke("migrate", "--settings", site.settings_module, "--orm", "django_orm",
                        "--target", "patients", "0001_initial", "--no-journal")  # fmt: skip
    assert setup.exit_code == 0, setup.output
    exporter.clear()
    writer = sqlite3.connect(site.databases[1].path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the write lock, as a busy application holds it
    try:
        result = site.invoke(
            "migrate", "--settings", site.settings_module, "--lock-wait", "0.3", "--lock-retries", "1",
            "--lock-retry-delay", "0", "--jobs", "1", "--no-journal", "--json",
        )  # fmt: skip
    finally:
        writer.rollback()
        writer.close()

    assert result.exit_code == ExitCode.FAILED, result.output
    spans = list(exporter.get_finished_spans())
    [busy] = [
        s
        for s in named(spans, "tenant_router.database")
        if s.attributes.get("tenant_router.tenant") == "tenant-2"
    ]
    a = busy.attributes
    assert (a["tenant_router.status"], a["error.type"]) == ("busy", "busy"), a
    assert (a["tenant_router.requeued"], a["tenant_router.lock_waits"]) == (1, 2)
    assert a["tenant_router.migration.from"] == "patients.0001_initial"
    assert a["tenant_router.migration.to"] == "contenttypes zero"  # the busy step's app, where it stands
    assert busy.status.status_code is StatusCode.ERROR
    steps = [s for s in named(spans, "tenant_router.step") if s.parent.span_id == busy.context.span_id]
    assert [s.attributes["tenant_router.step.outcome"] for s in steps] == ["busy", "busy"]
    points = metric_points(reader)
    assert sum(p.value for p in points["tenant_router.requeues"]) == 1
    assert sum(p.value for p in points["tenant_router.lock_waits"]) == 2


@pytest.fixture
def celery_site(tmp_path: Path) -> Iterator[Workers]:
    """The clinic example's SQLite tenants and one Celery worker (w1) on a queue of its own."""
    require_redis()
    workers = Workers(clinic_copy(tmp_path), unique_queue(), redis_db())
    try:
        workers.start("w1")
        yield workers
    finally:
        workers.stop_all()


def test_databases_migrated_on_celery_workers_are_in_the_run_trace(
    celery_site: Workers, receiver: Receiver
) -> None:
    env = {
        **celery_site.env(),
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}",
        "OTEL_METRICS_EXPORTER": "none",
    }
    command = [sys.executable, "-m", "tenant_router_cli", "migrate", "--settings", "clinic.settings"]
    command += ["--pythonpath", str(celery_site.example), "--no-journal", "--executor", "celery"]
    command += ["--celery-app", "clinic.celery:app", "--queue", celery_site.queue]

    result = run(command, cwd=celery_site.example, env=env)

    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    spans = received_spans(receiver)
    [root] = [s for s in spans if s.name == "tenant_router.run"]
    databases = [s for s in spans if s.name == "tenant_router.database"]
    assert len(databases) == 7 and {s.parent_span_id for s in databases} == {root.span_id}
    assert {s.trace_id for s in spans} == {root.trace_id}
    executor = {a.key: a.value.string_value for a in root.attributes}["tenant_router.executor"]
    assert executor == "celery"
    for span in databases:
        steps = [s for s in spans if s.parent_span_id == span.span_id]
        assert root.start_time_unix_nano <= span.start_time_unix_nano <= span.end_time_unix_nano
        assert all(span.start_time_unix_nano <= s.start_time_unix_nano for s in steps)
        assert all(s.end_time_unix_nano <= span.end_time_unix_nano for s in steps)
    assert "/v1/metrics" not in receiver.bodies
