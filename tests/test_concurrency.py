"""Run locks and interrupts through real processes: two runs never migrate one database at once, and a
SIGINT leaves every database at a migration boundary with a journal that says which."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.clinic import clinic_copy, migrate_args, pg_url, write_django_tenants
from support.processes import EXE, Streamed, is_event, report_of, run
from support.servers import POSTGRES, Server, require
from support.sites import TenantSite

from tenant_router.record.journal import find_run, read_run
from tenant_router.safety.locks import TRY_LOCK_SQL, database_lock
from tenant_router_cli.exit_codes import ExitCode

HEAD = ("patients", "0003_visit_index")


@contextmanager
def held_lock(server: Server, entry: dict[str, Any]) -> Iterator[None]:
    """Hold the run lock of one database from this process, as another run would.

    The lock names the database the session is connected to: the session connects to the tenant's.
    """
    if server.kind == "postgres":
        import psycopg

        conn = psycopg.connect(
            host=entry["HOST"], port=entry["PORT"], user=entry["USER"], dbname=entry["NAME"], autocommit=True
        )
    else:
        import MySQLdb

        conn = MySQLdb.connect(
            host=entry["HOST"], port=int(entry["PORT"]), user=entry["USER"], password=entry["PASSWORD"],
            db=entry["NAME"],
        )  # fmt: skip
    try:
        cur = conn.cursor()
        cur.execute(TRY_LOCK_SQL["postgresql" if server.kind == "postgres" else "mysql"])
        assert cur.fetchone()[0] in (True, 1)
        yield
    finally:
        conn.close()  # ends the session: the lock goes with it


@contextmanager
def sqlite_held(path: Path | None) -> Iterator[None]:
    """Hold a SQLite database's run lock from this process, as another run would."""
    with database_lock(f"sqlite:{path}", lambda: None, 0) as held:
        assert held
        yield


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {r["tenant"]: r["status"] for r in report["results"] if r["tenant"]}


def started(stdout: str) -> list[str]:
    lines = [json.loads(line) for line in stdout.splitlines()]
    return [e["tenant"] for e in lines if e["event"] == "tenant_started" and e["tenant"]]


# -- a database held by another run ----------------------------------------------------------------
def test_a_held_database_is_reported_locked_and_left_alone(
    server: Server, server_site_factory: Any, tmp_path: Path
) -> None:
    site: TenantSite = server_site_factory(2)
    held = site.db("tenant-1")
    journal = tmp_path / "journal"

    with held_lock(server, held.entry):
        result = site.invoke(
            "migrate",
            "--settings",
            site.settings_module,
            "--lock-timeout",
            "0",
            "--journal",
            str(journal),
            "--json",
        )

    assert result.exit_code == ExitCode.LOCKED == 5, result.output
    report = report_of(result.stdout)
    assert statuses(report) == {"tenant-1": "locked", "tenant-2": "migrated"}
    row = next(r for r in report["results"] if r["tenant"] == "tenant-1")
    assert row["error"].startswith("locked by another run (waited 0s)"), row
    if server.kind == "postgres":  # the holder, as pg_locks names it (issue 20 item 4)
        assert ": held by PostgreSQL server process " in row["error"], row
    assert held.table_names() == set()  # untouched
    assert HEAD in site.db("tenant-2").applied()
    run = find_run(journal, None)
    assert run.outcomes[("django_orm", "tenant-1", "default")]["status"] == "locked"
    assert run.tenants_to_redo() == ["tenant-1"]

    again = site.invoke(
        "migrate", "--settings", site.settings_module, "--lock-timeout", "0", "--journal", str(journal),
        "--only-failed=last", "--json",
    )  # fmt: skip
    assert again.exit_code == ExitCode.OK, again.output
    assert statuses(report_of(again.stdout)) == {"tenant-1": "migrated"}


def test_a_lock_and_a_failure_exit_1_not_5(site: TenantSite, tmp_path: Path) -> None:
    site.db("tenant-3").execute("CREATE TABLE patients_patient (id integer)")
    path = site.db("tenant-1").path
    with sqlite_held(path):
        result = site.invoke(
            "migrate", "--settings", site.settings_module, "--lock-timeout", "0", "--no-journal", "--json"
        )

    assert result.exit_code == ExitCode.FAILED, result.output
    assert statuses(report_of(result.stdout)) == {
        "tenant-1": "locked",
        "tenant-2": "migrated",
        "tenant-3": "failed",
    }


def pg_clinic(tmp_path: Path, count: int, prefix: str) -> Iterator[tuple[Path, list[str]]]:
    """The clinic example with `count` PostgreSQL tenants t0.. (Django ORM only), dropped afterwards."""
    require(POSTGRES)
    example = clinic_copy(tmp_path)
    with POSTGRES.databases(count, prefix=prefix) as names:
        write_django_tenants(example, {f"t{i}": {"URL": pg_url(name)} for i, name in enumerate(names)})
        yield example, names


@pytest.fixture
def pg_example(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """Four PostgreSQL tenants t0..t3."""
    yield from pg_clinic(tmp_path, 4, "trc")


def pg_rows(name: str) -> list[tuple[int, str, str]]:
    """(id, app, name) of django_migrations, in the order applied; [] before the first migration."""
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0] is None:
            return []
        return [tuple(r) for r in conn.execute("SELECT id, app, name FROM django_migrations ORDER BY id")]


def pg_scalar(name: str, sql: str) -> Any:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as conn:
        return conn.execute(sql).fetchone()[0]


def test_a_run_waits_for_a_lock_then_migrates(pg_example: tuple[Path, list[str]], tmp_path: Path) -> None:
    example, names = pg_example
    journal = tmp_path / "journal"
    entry = POSTGRES.django_settings(names[0])

    with held_lock(POSTGRES, entry):
        refused = run(migrate_args(example, journal, "--lock-timeout", "0", "--json"), cwd=example)
        assert refused.returncode == ExitCode.LOCKED, refused.stderr
        assert statuses(report_of(refused.stdout)) == {
            "t0": "locked",
            "t1": "migrated",
            "t2": "migrated",
            "t3": "migrated",
        }
        assert (
            pg_rows(names[0]) == []
            and pg_scalar(names[0], "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        )

        waiting = Streamed(migrate_args(example, journal, "--lock-timeout", "30", "--json"), cwd=example)
        try:
            waiting.wait_for(is_event("tenant_started", tenant="t0"))  # it is at the lock now
            assert pg_rows(names[0]) == []
        except BaseException:
            waiting.kill()
            raise
    code, stdout, stderr = waiting.finish()  # the lock was released when the block ended

    assert code == ExitCode.OK, stderr
    report = report_of(stdout)
    assert statuses(report) == {"t0": "migrated", "t1": "up_to_date", "t2": "up_to_date", "t3": "up_to_date"}
    assert [r[1:] for r in pg_rows(names[0])] == [r[1:] for r in pg_rows(names[1])]


def test_two_runs_at_once_migrate_each_database_exactly_once(
    pg_example: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """Both runs get past the pre-flight with every tenant pending, then race for the locks."""
    example, names = pg_example
    args = migrate_args(example, tmp_path / "journal", "--jobs", "2", "--lock-timeout", "60", "--json")
    runs: list[Streamed] = []
    try:
        with (
            held_lock(POSTGRES, POSTGRES.django_settings(names[0])),
            held_lock(POSTGRES, POSTGRES.django_settings(names[1])),
        ):
            runs = [Streamed(args, cwd=example), Streamed(args, cwd=example)]
            for each in runs:  # both have planned t0 and t1 and wait for them
                each.wait_for(lambda e: e.get("event") == "tenant_started" and e.get("tenant") is not None)
        finished = [each.finish() for each in runs]
    finally:
        for each in runs:
            each.kill()

    assert [code for code, _, _ in finished] == [ExitCode.OK, ExitCode.OK], [err for _, _, err in finished]
    reports = [statuses(report_of(stdout)) for _, stdout, _ in finished]
    for tenant in ("t0", "t1", "t2", "t3"):
        outcomes = sorted(r[tenant] for r in reports)
        assert outcomes == ["migrated", "up_to_date"], (tenant, reports)
    reference = [r[1:] for r in pg_rows(names[0])]
    assert HEAD in reference
    for name in names:
        rows = [r[1:] for r in pg_rows(name)]
        assert rows == reference  # every migration once, in plan order
        assert len(set(rows)) == len(rows)
        assert pg_scalar(name, "SELECT count(*) FROM patients_ward") == 3  # the data migration ran once


def test_sqlite_file_lock_through_two_processes(tmp_path: Path) -> None:
    example = clinic_copy(tmp_path)
    write_django_tenants(example, {f"s{i}": {"NAME": f"var/s{i}.sqlite3"} for i in range(3)})
    files = [example / "var" / f"s{i}.sqlite3" for i in range(3)]
    journal = tmp_path / "journal"

    with sqlite_held(files[0]):
        refused = run(migrate_args(example, journal, "--lock-timeout", "0", "--json"), cwd=example)
    assert refused.returncode == ExitCode.LOCKED, refused.stderr
    assert statuses(report_of(refused.stdout)) == {"s0": "locked", "s1": "migrated", "s2": "migrated"}
    assert not files[0].exists()  # not even created
    for path in files[1:]:  # start over: every tenant pending
        path.unlink()

    args = migrate_args(example, journal, "--jobs", "2", "--lock-timeout", "60", "--json")
    runs: list[Streamed] = []
    try:
        with sqlite_held(files[0]), sqlite_held(files[1]):
            runs = [Streamed(args, cwd=example), Streamed(args, cwd=example)]
            for each in runs:
                each.wait_for(lambda e: e.get("event") == "tenant_started" and e.get("tenant") is not None)
        finished = [each.finish() for each in runs]
    finally:
        for each in runs:
            each.kill()

    assert [code for code, _, _ in finished] == [ExitCode.OK, ExitCode.OK], [err for _, _, err in finished]
    reports = [statuses(report_of(stdout)) for _, stdout, _ in finished]
    for tenant in ("s0", "s1", "s2"):
        assert sorted(r[tenant] for r in reports) == ["migrated", "up_to_date"], (tenant, reports)
    rows = []
    for path in files:
        with sqlite3.connect(path) as conn:
            rows.append(conn.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall())
            assert conn.execute("SELECT count(*) FROM patients_ward").fetchone()[0] == 3
    assert rows[0] == rows[1] == rows[2] and len(set(rows[0])) == len(rows[0])


# -- SIGINT ------------------------------------------------------------------------------------
def pg_state(name: str) -> dict[str, bool]:
    """What the schema shows, migration by migration, independently of django_migrations."""
    listed = "SELECT coalesce(array_agg(tablename::text), '{}') FROM pg_tables WHERE schemaname = 'public'"
    tables = set(pg_scalar(name, listed))
    index = pg_scalar(name, "SELECT count(*) FROM pg_indexes WHERE indexname = 'visit_patient_at'")
    wards = pg_scalar(name, "SELECT count(*) FROM patients_ward") if "patients_ward" in tables else 0
    return {
        "contenttypes.0001_initial": "django_content_type" in tables,
        "auth.0001_initial": "auth_permission" in tables,
        "patients.0001_initial": "patients_patient" in tables,
        "patients.0002_seed_wards": wards == 3,
        "patients.0003_visit_index": index == 1,
    }


@pytest.fixture
def pg_fleet(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """Eight PostgreSQL tenants t0..t7."""
    yield from pg_clinic(tmp_path, 8, "trs")


def test_sigint_stops_at_migration_boundaries_and_only_failed_finishes(
    pg_fleet: tuple[Path, list[str]], tmp_path: Path
) -> None:
    example, names = pg_fleet
    db = dict(zip([f"t{i}" for i in range(8)], names, strict=True))
    journal = tmp_path / "journal"

    first = Streamed(
        migrate_args(example, journal, "--jobs", "2", "--lock-timeout", "10", "--json"), cwd=example
    )
    try:
        done = first.wait_for(lambda e: e.get("event") == "tenant_finished" and e.get("tenant") is not None)
        first.wait_for(  # a tenant that started after it: most likely stopped half-way
            lambda e: (
                e.get("event") == "step_applied"
                and e.get("tenant") not in (None, done["tenant"])
                and e.get("step") == "contenttypes.0001_initial"
            )
        )
        first.proc.send_signal(signal.SIGINT)
        code, stdout, stderr = first.finish()
    finally:
        first.kill()

    assert code == ExitCode.INTERRUPTED == 130, stderr
    assert "SIGINT: stopping after the running migrations" in stderr
    report = report_of(stdout)
    assert report["interrupted"] is True and report["ok"] is False
    reference = [f"{app}.{name}" for _, app, name in pg_rows(db[done["tenant"]])]
    assert reference[0] == "contenttypes.0001_initial" and reference[-1] == "patients.0003_visit_index"
    rows = {t: [f"{app}.{name}" for _, app, name in pg_rows(n)] for t, n in db.items()}
    for tenant, applied in rows.items():  # a prefix of the plan, and the schema agrees with it
        assert applied == reference[: len(applied)], tenant
        state = pg_state(db[tenant])
        assert state == {step: step in applied for step in state}, (tenant, applied, state)
    not_at_head = {t for t, applied in rows.items() if applied != reference}
    assert not_at_head, "the run finished before the signal took effect"

    (path,) = journal.glob("*.jsonl")
    record = read_run(path)
    assert record.footer is not None and record.footer["interrupted"] is True
    for (_, tenant, _), line in record.outcomes.items():
        if tenant is None:
            continue
        if line["status"] == "migrated":
            assert rows[tenant] == reference and line["current"] == reference[-1]
        elif line["status"] == "interrupted":
            assert line["error"] == f"interrupted after {rows[tenant][-1]}", (tenant, line)
        else:
            assert line["status"] == "not_started" and rows[tenant] == [], (tenant, line)
    assert set(record.tenants_to_redo()) == not_at_head
    untouched = {t: pg_rows(db[t]) for t in db if t not in not_at_head}

    again = run(
        [EXE, *migrate_args(example, journal, "--jobs", "2", "--json", "--only-failed")[1:]], cwd=example
    )

    assert again.returncode == ExitCode.OK, again.stderr
    assert set(started(again.stdout)) == not_at_head
    assert set(statuses(report_of(again.stdout))) == not_at_head
    for tenant, name in db.items():
        assert [f"{a}.{n}" for _, a, n in pg_rows(name)] == reference, tenant
        assert all(pg_state(name).values()), tenant
    assert {t: pg_rows(db[t]) for t in untouched} == untouched  # the finished ones were not touched
    assert find_run(journal, None).tenants_to_redo() == []


def test_an_interrupt_while_waiting_for_a_lock_starts_nothing_there(
    pg_example: tuple[Path, list[str]], tmp_path: Path
) -> None:
    example, names = pg_example
    with held_lock(POSTGRES, POSTGRES.django_settings(names[0])):
        waiting = Streamed(
            migrate_args(example, tmp_path / "journal", "--jobs", "1", "--lock-timeout", "60", "--json"),
            cwd=example,
        )
        try:
            waiting.wait_for(is_event("tenant_started", tenant="t0"))  # first in line, at the lock
            waiting.proc.send_signal(signal.SIGINT)
            waiting.wait_for_error("SIGINT: stopping")  # the stop was requested before the lock frees
        except BaseException:
            waiting.kill()
            raise
    code, stdout, stderr = waiting.finish()

    assert code == ExitCode.INTERRUPTED, stderr
    assert statuses(report_of(stdout))["t1"] == "not_started"
    assert pg_rows(names[0]) == [], stdout  # nothing may start after the stop request
