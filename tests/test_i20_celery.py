"""Issue 20, items 1 and 9: under `--executor celery` the report tells what the databases hold when the
broker goes away, workers begin nothing for a run that is over, and a run leaves nothing in Redis.

Every test here talks to a Redis server of its own (`redis-server` on a free port, nothing on disk), so
it can be stopped and started again mid-run, and to real `celery worker` processes on a copy of the clinic
example with a migration that pauses (patients.0004_pause).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.celery_workers import REDIS_HOST, Workers, add_slow_migration, set_pause, unique_queue
from support.clinic import clinic_copy, migrate_args, write_django_tenants
from support.processes import Streamed, events, is_event, wait_until
from support.servers import POSTGRES, require

from tenant_router_cli.exit_codes import ExitCode

OUTAGE = "TENANT_ROUTER_CELERY_BROKER_OUTAGE"


class OwnRedis:
    """A redis-server on a port of its own that a test may stop and start again (nothing kept on disk)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind((REDIS_HOST, 0))
            self.port = probe.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                REDIS_HOST,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(REDIS_HOST, self.port, socket_connect_timeout=1)
        wait_until(lambda: _pings(client), "redis-server to answer", timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # gone with every message it held
            self.proc.wait(10)

    def client(self) -> Any:
        import redis

        return redis.Redis(REDIS_HOST, self.port)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture(scope="module")
def broker() -> Iterator[OwnRedis]:
    if subprocess.run(["which", "redis-server"], capture_output=True).returncode:
        pytest.skip("redis-server is not installed")
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, broker: OwnRedis) -> Iterator[Workers]:
    """The clinic example with a pausing migration, and one worker (w1, two pool processes) on it."""
    require(POSTGRES)
    example = clinic_copy(tmp_path_factory.mktemp("i20celery"))
    add_slow_migration(example)
    workers = Workers(example, unique_queue(), 0)
    workers.broker = f"redis://{REDIS_HOST}:{broker.port}/0"
    try:
        workers.start("w1", concurrency=2)
        yield workers
    finally:
        for name in list(workers.procs):
            if workers.procs[name].poll() is None:
                workers.kill(name)  # a warm shutdown would wait for a paused migration


@pytest.fixture
def up(site: Workers, broker: OwnRedis, tmp_path: Path) -> Iterator[Path]:
    """The broker up, w1 running, the pause off; a folder for the pids of paused migrations."""
    if broker.proc is None or broker.proc.poll() is not None:
        broker.start()
    site.ensure("w1")
    pids = tmp_path / "pids"
    pids.mkdir()
    set_pause(site.example, 0)
    yield pids
    set_pause(site.example, 0)


def celery_args(site: Workers, journal: Path, *extra: str, json_lines: bool = True) -> list[str]:
    argv = migrate_args(site.example, journal, "--executor", "celery", "--celery-app", "clinic.celery:app")
    return [*argv, "--queue", site.queue, *(["--json"] if json_lines else []), *extra]


def pg_rows(name: str) -> list[str]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0] is None:
            return []
        return [f"{a}.{n}" for a, n in conn.execute("SELECT app, name FROM django_migrations ORDER BY id")]


def streamed(site: Workers, argv: list[str], **env: str) -> Streamed:
    return Streamed(argv, cwd=site.example, env={**site.env(), **env})


def run(site: Workers, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=site.example, env={**site.env(), **env}, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def pausing(event: dict[str, Any]) -> bool:
    return is_event("step_started", step="patients.0004_pause")(event) and event["tenant"] is not None


def the_report(stdout: str) -> dict[str, Any]:
    """The report line of a --json run (an aborted run writes its error after it)."""
    return next(e for e in events(stdout) if e["event"] == "report")


def statuses(stdout: str) -> dict[str, dict[str, Any]]:
    return {r["tenant"]: r for r in the_report(stdout)["results"] if r["tenant"]}


# -- item 1 ------------------------------------------------------------------------------------
def test_a_broker_lost_for_good_ends_the_run_with_unknown_rows_and_no_worker_begins_after(
    site: Workers, broker: OwnRedis, up: Path, tmp_path: Path
) -> None:
    set_pause(site.example, 2, up)  # ends after the run's lease (1.5 s) has lapsed, before the run gives up
    with POSTGRES.databases(4, prefix="tri20c") as pg:
        write_django_tenants(site.example, {f"t{i}": POSTGRES.django_settings(n) for i, n in enumerate(pg)})
        fleet = streamed(site, celery_args(site, tmp_path / "j"), **{OUTAGE: "3"})
        try:
            fleet.wait_for(pausing)
            broker.stop()
            stopped = time.monotonic()
            code, stdout, stderr = fleet.finish(timeout=120)
            waited = time.monotonic() - stopped
        finally:
            fleet.kill()
        assert code == ExitCode.EXECUTOR, stderr
        assert waited >= 3  # it rode the outage out for TENANT_ROUTER_CELERY_BROKER_OUTAGE seconds
        assert re.search(r"error: Celery broker redis://127\.0\.0\.1:\d+/0 unreachable for 3 s", stderr), (
            stderr
        )
        assert "Traceback" not in stderr
        rows = statuses(stdout)
        assert set(rows) == {f"t{i}" for i in range(4)}
        seen = {t: r["status"] for t, r in rows.items()}
        assert set(seen.values()) <= {"migrated", "unknown", "not_started"}, seen
        paused = [t for t, r in rows.items() if r["status"] == "unknown"]
        assert paused, seen  # the databases in the workers' hands when the broker went
        for tenant in paused:
            assert "unknown" in (rows[tenant]["error"] or ""), rows[tenant]
        # the journal says the same, and --only-failed will read those databases again
        journal = [json.loads(line) for path in (tmp_path / "j").glob("*.jsonl") for line in path.open()]
        assert {line["tenant"] for line in journal if line.get("status") == "unknown"} == set(paused)

        after_run = {n: pg_rows(n) for n in pg}  # the paused step ended; the worker stopped there
        for tenant, state in seen.items():
            if state == "not_started":  # never sent: nothing there
                assert after_run[pg[int(tenant[1:])]] == [], tenant

        connected = site.log("w1").count("Connected to redis://")
        broker.start()  # the broker is back (empty), the run is over: the worker begins nothing
        wait_until(
            lambda: site.log("w1").count("Connected to redis://") > connected, "w1 to reconnect", timeout=60
        )
        time.sleep(3)
        assert {n: pg_rows(n) for n in pg} == after_run

        # what was unknown is settled by reading the databases
        set_pause(site.example, 0)
        again = run(site, celery_args(site, tmp_path / "j", "--only-failed"))
        assert again.returncode == 0, again.stderr
        redone = statuses(again.stdout)
        assert set(paused) <= set(redone), (paused, redone)
        assert {r["status"] for r in redone.values()} <= {"migrated", "up_to_date"}
        head = pg_rows(pg[0])
        assert all(pg_rows(n) == head for n in pg)


def test_a_short_broker_outage_is_ridden_out_and_the_run_ends_as_if_nothing_happened(
    site: Workers, broker: OwnRedis, up: Path, tmp_path: Path
) -> None:
    set_pause(site.example, 2, up)
    with POSTGRES.databases(5, prefix="tri20c") as pg:
        write_django_tenants(site.example, {f"t{i}": POSTGRES.django_settings(n) for i, n in enumerate(pg)})
        fleet = streamed(site, celery_args(site, tmp_path / "j"), **{OUTAGE: "60"})
        try:
            fleet.wait_for(pausing)
            broker.stop()  # every queued message is lost with it
            time.sleep(1.5)
            broker.start()
            code, stdout, stderr = fleet.finish(timeout=180)
        finally:
            fleet.kill()
        assert code == 0, stderr + stdout[-3000:]
        assert {r["status"] for r in statuses(stdout).values()} == {"migrated"}
        head = pg_rows(pg[0])
        assert head[-1] == "patients.0004_pause"
        assert all(pg_rows(n) == head for n in pg)


def test_unknown_is_said_in_the_live_view_the_plain_lines_and_both_summaries() -> None:
    from support.terminal import render, terminal, text_of

    from tenant_router import MigrationReport, PlainProgress, Status, format_summary
    from tenant_router.record.events import RunStarted, StepStarted, TenantFailed, TenantStarted
    from tenant_router_cli.live import LiveProgress
    from tenant_router_cli.render import render_summary

    why = "broker lost while its task was out on w1; where it stands is unknown"
    happened = [
        RunStarted(1, ("django_orm",)),
        TenantStarted("django_orm", "acme", "default"),
        StepStarted("django_orm", "acme", "default", "patients.0004_pause"),
        TenantFailed("django_orm", "acme", "default", why, "patients.0004_pause", 0.0, status=Status.UNKNOWN),
    ]
    lines: list[str] = []
    plain, live, report = PlainProgress(lines.append), LiveProgress(terminal(100, 20)), MigrationReport()
    for event in happened:
        plain(event)
        live(event)
        report.emit(event)
    assert lines[-1].startswith("[1/1] django_orm acme/default: UNKNOWN at patients.0004_pause: broker lost")
    assert any("acme" in row and "unknown" in row for row in render(live, 100, 20))
    assert report.to_dict()["counts"]["unknown"] == 1 and not report.ok
    summary = format_summary(report)
    assert "1 unknown" in summary[0] and any("acme/default: unknown: broker lost" in line for line in summary)
    shown = terminal(100, 30)
    render_summary(shown, report)
    assert "unknown" in text_of(shown.out) and "acme" in text_of(shown.out)


def test_an_unknown_outcome_counts_towards_max_failures_and_fail_fast() -> None:
    from tenant_router import MigrationReport, Status
    from tenant_router.record.events import TenantFailed

    for report in (MigrationReport(max_failures=1), MigrationReport(fail_fast=True)):
        report.emit(
            TenantFailed("django_orm", "acme", "default", "worker lost", None, 0.0, status=Status.UNKNOWN)
        )
        assert report.stopping, "a database the run lost sight of is not a success to go on after"


# -- item 9 ------------------------------------------------------------------------------------
def run_keys(broker: OwnRedis, run: str) -> dict[str, int]:
    """Every key of run `run` on the broker, with its time to live (-1: none)."""
    client = broker.client()
    return {k.decode(): client.ttl(k) for k in client.scan_iter() if run in k.decode()}


def test_a_run_killed_with_9_leaves_keys_that_expire_and_workers_that_begin_nothing_more(
    site: Workers, broker: OwnRedis, up: Path, tmp_path: Path
) -> None:
    set_pause(site.example, 3, up)
    with POSTGRES.databases(5, prefix="tri20c") as pg:
        write_django_tenants(site.example, {f"t{i}": POSTGRES.django_settings(n) for i, n in enumerate(pg)})

        def replies() -> set[str]:
            keys = [k.decode() for k in broker.client().scan_iter()]
            return {m for k in keys for m in re.findall(r"reply\.([0-9a-f]{12})", k)}

        earlier = replies()  # an earlier test's run on this server (its keys expire in their time)
        fleet = streamed(site, celery_args(site, tmp_path / "j"), **{OUTAGE: "4"})  # a 2 s lease
        try:
            fleet.wait_for(pausing)
            fleet.proc.kill()
            fleet.proc.wait(10)
        finally:
            fleet.kill()
        runs = replies() - earlier
        assert len(runs) == 1, runs
        run = runs.pop()
        time.sleep(4)  # the paused migrations end (3 s); their workers stop there, and nothing else begins
        begun = {n: pg_rows(n) for n in pg}
        time.sleep(2)
        assert {n: pg_rows(n) for n in pg} == begun
        assert sum(bool(rows) for rows in begun.values()) <= 2, begun  # w1's two pool processes
        keys = run_keys(broker, run)
        assert keys and all(ttl > 0 for ttl in keys.values()), keys  # nothing stays for ever


def test_no_worker_on_the_queue_says_so_once(site: Workers, up: Path, tmp_path: Path) -> None:
    with POSTGRES.databases(4, prefix="tri20c") as pg:
        write_django_tenants(site.example, {f"t{i}": POSTGRES.django_settings(n) for i, n in enumerate(pg)})
        argv = celery_args(site, tmp_path / "j", json_lines=False)
        argv[argv.index("--queue") + 1] = unique_queue()  # nobody consumes it
        done = run(site, argv)
    assert done.returncode == ExitCode.EXECUTOR, done.stderr
    said = (done.stdout + done.stderr).count("No Celery worker consumes queue")
    assert said == 1, done.stdout + done.stderr
    assert "Not started: 4 database(s)" in done.stdout


def test_a_database_started_again_keeps_its_progress_number() -> None:
    """What the plain lines of a run show when a worker's pool process dies mid-database and Celery
    hands its task to another (tests/test_celery_executor.py kills one for real): that database starts
    twice. It is counted once: [2/2], never [3/3] in a run of two."""
    from tenant_router import PlainProgress, Status
    from tenant_router.record.events import RunStarted, StepStarted, TenantFinished, TenantStarted

    redelivered = [
        RunStarted(2, ("django_orm",)),
        TenantStarted("django_orm", "t0", "default"),
        TenantStarted("django_orm", "t1", "default"),
        StepStarted("django_orm", "t1", "default", "patients.0004_pause"),  # its process is killed here
        TenantFinished("django_orm", "t0", "default", Status.MIGRATED, 19, "patients.0004_pause", 1.0),
        TenantStarted("django_orm", "t1", "default"),  # the redelivered task begins it again
        TenantFinished("django_orm", "t1", "default", Status.MIGRATED, 1, "patients.0004_pause", 2.0),
    ]
    lines: list[str] = []
    plain = PlainProgress(lines.append)
    for event in redelivered:
        plain(event)
    counters = [line.split()[0] for line in lines[1:]]
    assert counters == ["[1/2]", "[2/2]", "[1/2]", "[2/2]", "[2/2]"], lines


# -- trying to break it ------------------------------------------------------------------------
def test_a_task_redelivered_past_the_visibility_timeout_is_carried_out_once(
    broker: OwnRedis, tmp_path: Path
) -> None:
    """Redis hands a task that runs longer than its visibility timeout to another worker process while
    the first still runs it: the copy must not report a database 'locked' that the first is migrating,
    nor migrate the next database of the bundle at the same time."""
    require(POSTGRES)
    example = clinic_copy(tmp_path)
    add_slow_migration(example)
    app = example / "clinic" / "celery.py"
    app.write_text(
        app.read_text().replace(
            '{"visibility_timeout": 6 * 3600}',
            '{"visibility_timeout": 1, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}',
        )
    )
    short = Workers(example, unique_queue(), 0)
    short.broker = f"redis://{REDIS_HOST}:{broker.port}/0"
    pids = tmp_path / "pids"
    pids.mkdir()
    set_pause(
        example, 3, pids
    )  # 12 s a task: the restore loop (every 1 s) finds it past 1 s, even under load
    try:
        short.start("v1", concurrency=3)
        with POSTGRES.databases(4, prefix="tri20c") as pg:
            write_django_tenants(example, {f"t{i}": POSTGRES.django_settings(n) for i, n in enumerate(pg)})
            argv = celery_args(short, tmp_path / "j")
            done = run(short, argv, TENANT_ROUTER_CELERY_BUNDLE="4")
            head = pg_rows(pg[0])
            rows = {n: pg_rows(n) for n in pg}
    finally:
        for name in list(short.procs):
            short.kill(name)
    assert done.returncode == 0, done.stderr + done.stdout[-2000:]
    assert {r["status"] for r in statuses(done.stdout).values()} == {"migrated"}
    assert all(found == head for found in rows.values())
    finished = [e["tenant"] for e in events(done.stdout) if e["event"] == "tenant_finished" and e["tenant"]]
    assert sorted(finished) == ["t0", "t1", "t2", "t3"]
    assert "this copy was dropped" in short.log("v1")  # the redelivery did happen
