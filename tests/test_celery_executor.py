"""`--executor celery`: real `celery worker` processes (distinct node names, as if on other machines) on
the local Redis migrate PostgreSQL and MariaDB tenants exactly as `--jobs` does, and every way the
executor can fail ends with one line and a documented exit code, never a hang."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from support import processes
from support.celery_workers import (
    REDIS_HOST,
    REDIS_PORT,
    Workers,
    add_slow_migration,
    redis_db,
    require_redis,
    set_pause,
)
from support.celery_workers import unique_queue as new_queue
from support.clinic import clinic_copy, write_django_tenants
from support.describe import describe
from support.processes import EXE, Streamed, events, is_event, report_of
from support.servers import MYSQL, POSTGRES, require

from tenant_router_cli.exit_codes import ExitCode


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """The clinic example (plus a pausing migration) and two workers, w1 and w2, on a queue of its own."""
    require_redis()
    require(POSTGRES)
    example = clinic_copy(tmp_path_factory.mktemp("celery"))
    add_slow_migration(example)
    workers = Workers(example, new_queue(), redis_db())
    try:
        workers.start("w1")
        workers.start("w2")
        yield workers
    finally:
        workers.stop_all()


def args(site: Workers, journal: Path, *extra: str, json_lines: bool = True) -> list[str]:
    return [
        EXE, "migrate", "--settings", "clinic.settings", "--pythonpath", str(site.example),
        "--orm", "django_orm", "--journal", str(journal), *(["--json"] if json_lines else []), *extra,
    ]  # fmt: skip


def celery(site: Workers, *, queue: str | None = None) -> list[str]:
    return ["--executor", "celery", "--celery-app", "clinic.celery:app", "--queue", queue or site.queue]


def run(site: Workers, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return processes.run(argv, site.example, env={**site.env(), **env})


def pg_entry(name: str) -> dict[str, Any]:
    return POSTGRES.django_settings(name)


def comparable(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's tenant rows without timings (the reserved SQLite database is shared by both runs)."""
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in report["results"] if row["tenant"]]
    return sorted(rows, key=lambda row: (row["orm"], row["tenant"], row["alias"]))


def per_database(stdout: str) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
    """Each database's events in the order they arrived, without timings."""
    seen: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for event in events(stdout):
        if event.get("tenant") is not None and event["event"] != "report":
            key = (event["orm"], event["tenant"], event["alias"])
            seen.setdefault(key, []).append((event["event"], event.get("step"), event.get("status")))
    return seen


def pg_rows(name: str) -> list[str]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0] is None:
            return []
        return [f"{a}.{n}" for a, n in conn.execute("SELECT app, name FROM django_migrations ORDER BY id")]


class Monitor:
    """Every command the Redis server receives while it runs (MONITOR), as text."""

    def __init__(self) -> None:
        import redis

        self.client = redis.Redis(REDIS_HOST, REDIS_PORT)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _watch(self) -> None:
        with self.client.monitor() as monitor:
            self.ready.set()
            for command in monitor.listen():
                self.lines.append(f"{command.get('db')} {command.get('command')}")
                if "tr-monitor-stop" in self.lines[-1]:
                    return

    def stop(self) -> str:
        self.client.get("tr-monitor-stop")
        self.thread.join(10)
        return "\n".join(self.lines)


def run_ids(seen: str, db: int) -> set[str]:
    """The run ids whose reply queues the monitor saw used on database `db`."""
    return set(re.findall(rf"^{db} .*?tenant_router\.reply\.([0-9a-f]{{12}})", seen, re.M))


def leftovers(db: int, runs: set[str]) -> list[str]:
    """Keys of these runs still in Redis (reply and stop queues; not the lease's "over" mark, which
    expires on its own and tells a late worker at once that the run is over)."""
    import redis

    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db)
    keys = [k.decode() for k in client.scan_iter() if any(run in k.decode() for run in runs)]
    return [k for k in keys if not (k.startswith("tenant_router.lease.") and 0 < client.ttl(k) <= 86400)]


def redis_contents(db: int) -> str:
    """Every key of the database and every value it holds, as text."""
    import redis

    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=db)
    out = []
    for key in client.scan_iter():
        kind = client.type(key).decode()
        readers = {
            "string": client.get,
            "list": lambda k: client.lrange(k, 0, -1),
            "set": client.smembers,
            "zset": lambda k: client.zrange(k, 0, -1),
            "hash": client.hgetall,
        }
        value = readers[kind](key) if kind in readers else None
        out.append(f"{key!r} {value!r}")
    return "\n".join(out)


# -- parity ----------------------------------------------------------------------------------
def test_celery_run_equals_a_jobs_run_and_no_password_reaches_the_broker(
    site: Workers, tmp_path: Path
) -> None:
    require(MYSQL)
    password = "p@ss%:/'\"w0rd"
    with (
        POSTGRES.databases(6, prefix="trcel") as pg,
        MYSQL.databases(4, prefix="trcel") as my,
        MYSQL.user(password) as user,
    ):
        fleets: dict[str, dict[str, dict[str, Any]]] = {}
        for side, offset in (("celery", 0), ("jobs", 1)):
            fleets[side] = {
                **{f"p{i}": pg_entry(pg[2 * i + offset]) for i in range(3)},
                **{
                    f"m{i}": MYSQL.django_settings(my[2 * i + offset], user=user, password=password)
                    for i in range(2)
                },
            }
        write_django_tenants(site.example, fleets["celery"])
        monitor = Monitor()
        try:
            by_celery = run(site, args(site, tmp_path / "j1", *celery(site)))
        finally:
            seen = monitor.stop()
        write_django_tenants(site.example, fleets["jobs"])
        by_jobs = run(site, args(site, tmp_path / "j2", "--jobs", "2"))

    # (the databases are dropped by now: compare what was recorded while they existed)
    assert by_celery.returncode == 0, by_celery.stderr
    assert by_jobs.returncode == 0, by_jobs.stderr
    assert comparable(report_of(by_celery.stdout)) == comparable(report_of(by_jobs.stdout))
    assert per_database(by_celery.stdout) == per_database(by_jobs.stdout)
    assert {r["status"] for r in report_of(by_celery.stdout)["results"]} == {"migrated"}
    assert "tenant_router.run_task" in seen  # the monitor did see the task messages
    for form in (password, quote(password, safe=""), json.dumps(password)[1:-1], "w0rd"):
        assert form not in seen
        assert form not in redis_contents(site.db)
    runs = run_ids(seen, site.db)
    assert len(runs) == 1 and leftovers(site.db, runs) == []  # the run's reply queue is gone


def test_schemas_after_celery_equal_those_after_jobs(site: Workers, tmp_path: Path) -> None:
    with POSTGRES.databases(4, prefix="trcel") as pg:
        write_django_tenants(site.example, {"a": pg_entry(pg[0]), "b": pg_entry(pg[1])})
        assert run(site, args(site, tmp_path / "j1", *celery(site))).returncode == 0
        write_django_tenants(site.example, {"a": pg_entry(pg[2]), "b": pg_entry(pg[3])})
        assert run(site, args(site, tmp_path / "j2", "--jobs", "2")).returncode == 0
        url = POSTGRES.sqlalchemy_url
        assert describe(url(pg[0])) == describe(url(pg[2]))
        assert describe(url(pg[1])) == describe(url(pg[3]))


# -- failures of the executor ----------------------------------------------------------------
def test_no_worker_on_the_queue_is_one_line_and_exit_7(site: Workers, tmp_path: Path) -> None:
    late = Workers(site.example, new_queue(), site.db)
    try:
        with POSTGRES.databases(1, prefix="trcel") as pg:
            write_django_tenants(site.example, {"a": pg_entry(pg[0])})
            done = run(site, args(site, tmp_path / "j", *celery(site, queue=late.queue), json_lines=False))
            assert done.returncode == ExitCode.EXECUTOR == 7, done.stderr
            assert f"error: No Celery worker consumes queue '{late.queue}'" in done.stderr
            assert f"hint: Start one: celery -A clinic.celery:app worker -Q {late.queue}" in done.stderr
            assert "Traceback" not in done.stderr
            # What the run sent before it knew stays in the queue; a worker started later drops it.
            late.start("late1")
            deadline = time.monotonic() + 60
            while "its task tr-" not in late.log("late1") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert "is over; its task tr-" in late.log("late1")
            assert pg_rows(pg[0]) == []
    finally:
        late.stop_all()


def test_an_unreachable_broker_is_one_line_and_exit_7(site: Workers, tmp_path: Path) -> None:
    with POSTGRES.databases(1, prefix="trcel") as pg:
        write_django_tenants(site.example, {"a": pg_entry(pg[0])})
        done = run(
            site,
            args(site, tmp_path / "j", *celery(site), json_lines=False),
            CELERY_BROKER_URL="redis://:br0ker-s3cret@127.0.0.1:6399/0",
        )
    assert done.returncode == ExitCode.EXECUTOR, done.stderr
    assert "error: Celery broker redis://127.0.0.1:6399/0 unreachable: " in done.stderr
    assert "br0ker-s3cret" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("app", "env", "code", "line"),
    [
        ("no_such_module:app", {}, ExitCode.CONFIG, "error: --celery-app 'no_such_module:app': cannot import"),
        ("clinic.celery:app", {"CELERY_BROKER_URL": "redis://127.0.0.1:6399/0"}, ExitCode.EXECUTOR,
         "error: Celery broker redis://127.0.0.1:6399/0 unreachable: "),
    ],
)  # fmt: skip
def test_a_wrong_celery_app_or_a_broker_down_touches_no_database_not_even_the_reserved_one(
    site: Workers, tmp_path: Path, app: str, env: dict[str, str], code: int, line: str
) -> None:
    fresh = Workers(clinic_copy(tmp_path), new_queue(), site.db)  # its reserved database is not made yet
    with POSTGRES.databases(1, prefix="trcel") as pg:
        write_django_tenants(fresh.example, {"a": pg_entry(pg[0])})
        argv = args(fresh, tmp_path / "j", "--executor", "celery", "--celery-app", app, json_lines=False)
        done = run(fresh, argv, **env)
        assert pg_rows(pg[0]) == []
    assert done.returncode == code, done.stderr
    assert line in done.stderr and "Traceback" not in done.stderr
    assert list((fresh.example / "var").glob("*.sqlite3")) == []  # central was not migrated first


def test_workers_on_other_code_are_refused(site: Workers, tmp_path: Path) -> None:
    other = Workers(clinic_copy(tmp_path), new_queue(), site.db)  # no 0004_pause: another graph
    try:
        other.start("old1")
        with POSTGRES.databases(1, prefix="trcel") as pg:
            write_django_tenants(site.example, {"a": pg_entry(pg[0])})
            write_django_tenants(other.example, {"a": pg_entry(pg[0])})
            done = run(site, args(site, tmp_path / "j", *celery(site, queue=other.queue), json_lines=False))
            assert pg_rows(pg[0]) == []
    finally:
        other.stop_all()
    assert done.returncode == ExitCode.EXECUTOR, done.stderr
    assert "error: Celery worker old1@" in done.stderr
    assert "runs other code: its django_orm migrations differ" in done.stderr


# -- lost workers and interrupts -------------------------------------------------------------
def slow_run(site: Workers, tmp_path: Path, names: list[str], *extra: str) -> Streamed:
    write_django_tenants(site.example, {f"t{i}": pg_entry(n) for i, n in enumerate(names)})
    saved = dict(os.environ)
    os.environ.update({"CELERY_BROKER_URL": site.broker, "TENANT_ROUTER_CELERY_LOST_AFTER": "6"})
    try:  # Streamed runs with the test's environment
        return Streamed(args(site, tmp_path / "journal", *celery(site), *extra), cwd=site.example)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def wait_for_pid(pids: Path, timeout: float = 60) -> tuple[str, int]:
    """(database name, pid) of the first process that started patients.0004_pause."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for found in pids.glob("*.pid"):
            text = found.read_text()
            if text:
                return found.stem, int(text)
        time.sleep(0.05)
    raise AssertionError("no database reached patients.0004_pause")


def tenant_pausing(event: dict[str, Any]) -> bool:
    """A tenant database (not the reserved one, migrated first in the run's process) began the pause."""
    return is_event("step_started", step="patients.0004_pause")(event) and event["tenant"] is not None


def pid_of(path: Path, timeout: float = 10) -> int:
    """The pid a paused migration wrote to `path` (it writes it as it starts)."""
    deadline = time.monotonic() + timeout
    while not (text := path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"no pid in {path}"
        time.sleep(0.02)
    return int(text)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def at_a_boundary(name: str, reference: list[str]) -> list[str]:
    rows = pg_rows(name)
    assert rows == reference[: len(rows)], (name, rows)
    return rows


@pytest.fixture
def paused(site: Workers, tmp_path: Path) -> Iterator[Path]:
    pids = tmp_path / "pids"
    pids.mkdir()
    set_pause(site.example, 2.0, pids)
    site.ensure("w1", "w2")
    try:
        yield pids
    finally:
        set_pause(site.example, 0)


def test_a_worker_killed_with_9_fails_its_database_and_the_run_goes_on(
    site: Workers, paused: Path, tmp_path: Path
) -> None:
    with POSTGRES.databases(4, prefix="trcel") as pg:
        fleet = slow_run(site, tmp_path, pg)
        try:
            # once the run has heard which step is running (events reach it within half a second)
            started = fleet.wait_for(tenant_pausing)
            name = pg[int(started["tenant"][1:])]
            pid = pid_of(paused / f"{name}.pid")
            machine = parent_of(pid)  # the worker's main process: kill the whole worker
            os.killpg(machine, 9)
            code, stdout, stderr = fleet.finish(timeout=120)
        finally:
            fleet.kill()
        lost = f"t{pg.index(name)}"
        report = report_of(stdout)
        status = {r["tenant"]: r for r in report["results"] if r["tenant"]}
        assert code == ExitCode.FAILED, stderr
        assert status[lost]["status"] == "unknown"  # the run cannot know what a lost worker did
        assert "Celery worker" in status[lost]["error"] and "lost: no heartbeat" in status[lost]["error"]
        assert status[lost]["failed_step"] == "patients.0004_pause"
        assert {t: r["status"] for t, r in status.items() if t != lost} == dict.fromkeys(
            set(status) - {lost}, "migrated"
        )
        reference = pg_rows(pg[(pg.index(name) + 1) % 4])
        assert reference[-1] == "patients.0004_pause"
        assert "patients.0004_pause" not in at_a_boundary(name, reference)  # its transaction rolled back

        site.ensure("w1", "w2")
        set_pause(site.example, 0)
        again = run(site, args(site, tmp_path / "journal", *celery(site), "--only-failed"))
        assert again.returncode == 0, again.stderr
        assert [r["tenant"] for r in report_of(again.stdout)["results"] if r["tenant"]] == [lost]
        assert pg_rows(name) == reference


def task_units(seen: str, queue: str) -> list[list[Any]]:
    """The databases of each tenant-router task the monitor saw sent to `queue` (kombu's Redis
    messages carry the Celery body base64-encoded)."""
    import base64

    out = []
    for line in seen.splitlines():
        if "LPUSH" not in line.upper() or queue not in line:
            continue
        for body in re.findall(r'body\\?"\s*:\s*\\?"([A-Za-z0-9+/=]+)', line):
            decoded = json.loads(base64.b64decode(body))
            task = decoded[1].get("task") if isinstance(decoded, list) and len(decoded) == 3 else None
            if task and task["kind"] == "migrate":
                out.append(task["units"])
    return out


def test_a_lost_worker_s_bundle_fails_its_running_database_and_the_others_finish_the_rest(
    site: Workers, paused: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pending databases travel several to a task: when the worker is lost, the database it was in
    fails and those of its bundle it never began go to another worker."""
    monkeypatch.setenv("TENANT_ROUTER_CELERY_BUNDLE", "4")
    with POSTGRES.databases(8, prefix="trcel") as pg:
        monitor = Monitor()
        fleet = slow_run(site, tmp_path, pg)
        try:
            started = fleet.wait_for(tenant_pausing)
            name = pg[int(started["tenant"][1:])]
            os.killpg(parent_of(pid_of(paused / f"{name}.pid")), 9)
            code, stdout, stderr = fleet.finish(timeout=180)
        finally:
            fleet.kill()
            seen = monitor.stop()
        lost = started["tenant"]
        bundles = task_units(seen, site.queue)
        mine = next(b for b in bundles if any(unit[1] == lost for unit in b))
        assert len(mine) > 1, bundles  # the lost worker held databases it had not begun
        status = {r["tenant"]: r for r in report_of(stdout)["results"] if r["tenant"]}
        assert code == ExitCode.FAILED, stderr
        assert status[lost]["status"] == "unknown" and "lost: no heartbeat" in status[lost]["error"]
        assert {t: r["status"] for t, r in status.items() if t != lost} == dict.fromkeys(
            set(status) - {lost}, "migrated"
        )
        reference = pg_rows(pg[(pg.index(name) + 1) % 8])
        assert all(pg_rows(n) == reference for n in pg if n != name)


def test_a_killed_pool_process_is_redelivered_and_its_database_reported_once(
    site: Workers, paused: Path, tmp_path: Path
) -> None:
    with POSTGRES.databases(3, prefix="trcel") as pg:
        fleet = slow_run(site, tmp_path, pg)
        try:
            name, pid = wait_for_pid(paused)
            (paused / f"{name}.pid").write_text("")  # the redelivered run writes it again
            os.kill(pid, 9)  # the pool process only: Celery requeues the task (reject_on_worker_lost)
            code, stdout, stderr = fleet.finish(timeout=120)
        finally:
            fleet.kill()
        report = report_of(stdout)
        assert code == 0, stderr
        assert [r["status"] for r in report["results"] if r["tenant"]] == ["migrated"] * 3
        assert len([r for r in report["results"] if r["tenant"] == f"t{pg.index(name)}"]) == 1
        assert pg_rows(name) == pg_rows(pg[(pg.index(name) + 1) % 3])  # each migration recorded once
        finished = [e for e in events(stdout) if e["event"] == "tenant_finished" and e["tenant"]]
        assert sorted(e["tenant"] for e in finished) == ["t0", "t1", "t2"]


def test_sigint_revokes_what_has_not_started_and_stops_the_rest_at_a_boundary(
    site: Workers, paused: Path, tmp_path: Path
) -> None:
    import signal

    with POSTGRES.databases(8, prefix="trcel") as pg:
        monitor = Monitor()
        fleet = slow_run(site, tmp_path, pg)
        try:
            fleet.wait_for(tenant_pausing)
            fleet.proc.send_signal(signal.SIGINT)
            code, stdout, stderr = fleet.finish(timeout=120)
        finally:
            fleet.kill()
            seen = monitor.stop()
        runs = run_ids(seen, site.db)
        assert len(runs) == 1 and leftovers(site.db, runs) == []  # reply and stop queues deleted
        assert code == ExitCode.INTERRUPTED, stderr
        report = report_of(stdout)
        status = {r["tenant"]: r["status"] for r in report["results"] if r["tenant"]}
        assert report["interrupted"] is True
        assert "not_started" in status.values(), status  # revoked before a worker took them
        assert set(status.values()) <= {"migrated", "interrupted", "not_started"}
        # no database began after the interrupt (the two workers were in one each, or about to be),
        # not even the next one of a bundle a worker holds
        assert sum(state != "not_started" for state in status.values()) <= 2, status
        before = {n: pg_rows(n) for n in pg}
        time.sleep(3)  # nothing revoked runs later
        assert {n: pg_rows(n) for n in pg} == before
        reference = max(before.values(), key=len)
        for tenant, state in status.items():
            rows = at_a_boundary(pg[int(tenant[1:])], reference)
            if state == "not_started":
                assert rows == []


def test_status_and_plan_read_the_fleet_on_the_workers(site: Workers, tmp_path: Path) -> None:
    with POSTGRES.databases(3, prefix="trcel") as pg:
        write_django_tenants(site.example, {"a": pg_entry(pg[0]), "b": pg_entry(pg[1])})
        assert run(site, args(site, tmp_path / "j", *celery(site), "--tenant", "a")).returncode == 0
        write_django_tenants(
            site.example,
            {"a": pg_entry(pg[0]), "b": pg_entry(pg[1]), "c": {**pg_entry(pg[2]), "NAME": "tr_no_such_db"}},
        )
        base = [EXE, "status", "--settings", "clinic.settings", "--pythonpath", str(site.example)]
        base += ["--orm", "django_orm", "--tenants"]
        on_workers = run(site, [*base, *celery(site)])
        here = run(site, [*base, "--jobs", "2"])
        plan_workers = run(site, [*args(site, tmp_path / "j", "--plan", json_lines=False), *celery(site)])
        plan_here = run(site, args(site, tmp_path / "j", "--plan", "--jobs", "2", json_lines=False))
    assert on_workers.returncode == here.returncode == ExitCode.MISSING  # c's database does not exist
    assert on_workers.stdout == here.stdout
    assert "django_orm: 2 at head, 1 pending contenttypes.0001_initial" in here.stdout  # central and a
    assert ", 1 missing" in here.stdout
    assert plan_workers.returncode == plan_here.returncode
    assert plan_workers.stdout == plan_here.stdout


HOSTILE = ["[/x]", "new\nline", "esc\x1b[31mred", "*", "ünï-😀", "x" * 5000]


def test_hostile_tenant_ids_travel_and_come_back_intact(site: Workers, tmp_path: Path) -> None:
    files = {tenant: f"var/hostile-{i}.sqlite3" for i, tenant in enumerate(HOSTILE)}
    write_django_tenants(site.example, {tenant: {"NAME": name} for tenant, name in files.items()})
    done = run(site, args(site, tmp_path / "j", *celery(site)))
    assert done.returncode == 0, done.stderr
    rows = [r for r in report_of(done.stdout)["results"] if r["tenant"] is not None]
    assert sorted(r["tenant"] for r in rows) == sorted(HOSTILE)
    assert {r["status"] for r in rows} == {"migrated"}


def test_max_connections_per_host_holds_across_workers(site: Workers, paused: Path, tmp_path: Path) -> None:
    set_pause(site.example, 0.5)
    with POSTGRES.databases(3, prefix="trcel") as pg:
        write_django_tenants(site.example, {f"t{i}": pg_entry(n) for i, n in enumerate(pg)})
        done = run(site, args(site, tmp_path / "j", *celery(site), "--max-connections-per-host", "1"))
    assert done.returncode == 0, done.stderr
    running: set[str] = set()
    most = 0
    for event in events(done.stdout):
        if event.get("tenant") is None:
            continue
        if event["event"] == "tenant_started":
            running.add(event["tenant"])
        elif event["event"] in ("tenant_finished", "tenant_failed"):
            running.discard(event["tenant"])
        most = max(most, len(running))
    assert most == 1


def test_a_broker_that_goes_away_mid_run_ends_it_with_exit_7(site: Workers, tmp_path: Path) -> None:
    port = 16379 + os.getpid() % 1000
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    own = Workers(site.example, new_queue(), 0)
    own.broker = f"redis://{REDIS_HOST}:{port}/0"
    pids = tmp_path / "pids"
    pids.mkdir()
    set_pause(site.example, 30, pids)
    try:
        own.start("b1")
        with POSTGRES.databases(2, prefix="trcel") as pg:
            write_django_tenants(site.example, {f"t{i}": pg_entry(n) for i, n in enumerate(pg)})
            fleet = subprocess.Popen(
                args(site, tmp_path / "j", *celery(site, queue=own.queue), json_lines=False),
                cwd=site.example,
                env={**own.env(), "TENANT_ROUTER_CELERY_BROKER_OUTAGE": "2"},  # (60 s by default)
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                name, _ = wait_for_pid(pids)
                server.kill()  # the broker is gone, with every message it held (nothing on disk)
                server.wait(10)
                _, stderr = fleet.communicate(timeout=180)
            finally:
                fleet.kill()
            assert fleet.returncode == ExitCode.EXECUTOR, stderr
            assert f"error: Celery broker redis://{REDIS_HOST}:{port}/0 unreachable" in stderr
            assert "Traceback" not in stderr
            rows = pg_rows(name)
            assert "patients.0004_pause" not in rows  # left at a boundary
    finally:
        set_pause(site.example, 0)
        if "b1" in own.procs and own.procs["b1"].poll() is None:
            own.kill("b1")  # a warm shutdown would wait for the paused migration
        server.kill()
