"""Lock-safe migration (issue 13, part 2): --lock-wait, requeue with back-off, `busy`, --statement-timeout.

Another session holds a table a pending migration needs; the run must not queue live traffic behind
an ALTER: each step waits at most --lock-wait for its lock, the database goes to the back of the queue
while the rest of the fleet goes on, and one that never gets its lock ends `busy` at its last good
boundary.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.clinic import add_app, clinic_copy, migrate_args
from support.clinic import write_django_tenants as write_tenants
from support.processes import Streamed, events, is_event, report_of, run
from support.servers import MYSQL, POSTGRES, Server, require

from tenant_router_cli.exit_codes import ExitCode

SHOP_0001 = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[("id", models.BigAutoField(primary_key=True)), ("name", models.CharField(max_length=50))],
        ),
    ]
"""
SHOP_0002 = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Tag",
            fields=[("id", models.BigAutoField(primary_key=True)), ("label", models.CharField(max_length=50))],
        ),
    ]
"""
SHOP_0003 = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_tag")]
    operations = [%s
        migrations.AddField("item", "sku", models.CharField(max_length=20, default="")),
    ]
"""
#: Before the blocked ALTER, a first operation that commits at once on MariaDB.
NOTE_FIRST = """
        migrations.CreateModel(name="Note", fields=[("id", models.BigAutoField(primary_key=True))]),"""
SLOW_0001 = """
from django.db import migrations

SLEEP = "SELECT CASE WHEN {db} LIKE '%_1' THEN {sleep}(5) END"


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_item_sku")]
    operations = [migrations.RunSQL(SLEEP, migrations.RunSQL.noop)]
"""
FAST = ("--lock-wait", "0.5", "--lock-retry-delay", "0.2")


def shop_site(tmp_path: Path, server: Server, names: list[str], *, note_first: bool = False) -> Path:
    """The clinic example plus a `shop` app, its tenants on `names`, migrated up to shop.0001."""
    example = clinic_copy(tmp_path)
    add_app(
        example,
        "shop",
        {
            "0001_initial": SHOP_0001,
            "0002_tag": SHOP_0002,
            "0003_item_sku": SHOP_0003 % (NOTE_FIRST if note_first else ""),
        },
    )
    write_tenants(example, {f"t{i}": server.django_settings(n) for i, n in enumerate(names)})
    first = run(migrate_args(example, tmp_path / "setup", "--target", "shop", "0001_initial"), example)
    assert first.returncode == 0, first.stdout + first.stderr
    return example


@contextmanager
def held(server: Server, name: str, table: str = "shop_item") -> Iterator[Any]:
    """Another session holding `table` of database `name`: ACCESS EXCLUSIVE on PostgreSQL, a metadata
    lock on MariaDB (an open transaction that read the table); let go on leaving (or by closing it)."""
    p = server.parts
    if server.kind == "postgres":
        import psycopg

        conn: Any = psycopg.connect(host=p["host"], port=p["port"], user=p["user"], dbname=name)
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    else:
        import MySQLdb

        conn = MySQLdb.connect(
            host=p["host"], port=int(p["port"]), user=p["user"], password=p["password"], db=name
        )
        cursor = conn.cursor()
        cursor.execute("START TRANSACTION")
        cursor.execute(f"SELECT * FROM {table}")
        cursor.fetchall()
    try:
        yield conn
    finally:
        conn.close()


def applied(server: Server, name: str, app: str = "shop") -> list[str]:
    """Names of `app`'s migrations recorded in database `name`."""
    conn = _connect(server, name)
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT name FROM django_migrations WHERE app = '{app}' ORDER BY name")
        return [row[0] for row in cursor.fetchall()]
    finally:
        conn.close()


def columns(server: Server, name: str, table: str) -> set[str]:
    conn = _connect(server, name)
    try:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            + (" AND table_schema = DATABASE()" if server.kind == "mysql" else ""),
            (table,),
        )
        return {row[0].lower() for row in cursor.fetchall()}
    finally:
        conn.close()


def tables(server: Server, name: str) -> set[str]:
    conn = _connect(server, name)
    try:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            + ("DATABASE()" if server.kind == "mysql" else "'public'")
        )
        return {row[0].lower() for row in cursor.fetchall()}
    finally:
        conn.close()


def _connect(server: Server, name: str) -> Any:
    p = server.parts
    if server.kind == "postgres":
        import psycopg

        return psycopg.connect(host=p["host"], port=p["port"], user=p["user"], dbname=name, autocommit=True)
    import MySQLdb

    return MySQLdb.connect(
        host=p["host"], port=int(p["port"]), user=p["user"], password=p["password"], db=name
    )


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {r["tenant"]: r["status"] for r in report["results"] if r["tenant"]}


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_a_held_table_waits_at_the_back_of_the_queue_then_migrates(tmp_path: Path, kind: str) -> None:
    """The held tenant is requeued while every other one finishes; let go, its retry migrates it."""
    server = require(POSTGRES if kind == "postgres" else MYSQL)
    with server.databases(4, prefix="trlock") as names:
        example = shop_site(tmp_path, server, names)
        with held(server, names[1]):
            streamed = Streamed(
                migrate_args(example, tmp_path / "journal", *FAST, "--jobs", "2", "--json"), example
            )
            try:
                requeued = streamed.wait_for(is_event("tenant_requeued", tenant="t1"))
            except BaseException:
                streamed.kill()
                raise
        code, stdout, stderr = streamed.finish()

        assert code == ExitCode.OK, stdout + stderr
        assert statuses(report_of(stdout)) == dict.fromkeys(("t0", "t1", "t2", "t3"), "migrated")
        assert (requeued["attempt"], requeued["retries"], requeued["delay"]) == (1, 3, 0.2)
        assert "shop.0003_item_sku" in requeued["error"]
        lines = events(stdout)
        busy = next(e for e in lines if e["event"] == "tenant_busy")
        assert (busy["tenant"], busy["step"], busy["current"]) == (
            "t1",
            "shop.0003_item_sku",
            "shop.0002_tag",
        )
        finished = [e["tenant"] for e in lines if e["event"] == "tenant_finished" and e["tenant"]]
        assert finished[-1] == "t1", finished  # every other tenant finished first
        assert sum(1 for e in lines if e["event"] == "tenant_started" and e["tenant"] == "t1") == 2
        for name in names:
            assert applied(server, name) == ["0001_initial", "0002_tag", "0003_item_sku"]
            assert "sku" in columns(server, name, "shop_item")


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_a_table_never_let_go_ends_busy_at_its_last_good_boundary(tmp_path: Path, kind: str) -> None:
    """Never let go: `busy`, exit 1, the earlier migration of the run kept, the blocked one not; then
    --only-failed redoes that database alone once the table is free."""
    server = require(POSTGRES if kind == "postgres" else MYSQL)
    journal = tmp_path / "journal"
    with server.databases(3, prefix="trbusy") as names:
        example = shop_site(tmp_path, server, names)
        with held(server, names[2]):
            result = run(migrate_args(example, journal, *FAST, "--lock-retries", "2", "--jobs", "2"), example)
        out = result.stdout

        assert result.returncode == ExitCode.FAILED, out + result.stderr
        assert "django_orm t2/default: waiting for lock, retry 1/2 in 0.2s" in out, out
        assert "django_orm t2/default: waiting for lock, retry 2/2 in 0.4s" in out, out
        busy_line = next(line for line in out.splitlines() if "t2/default: BUSY" in line)
        assert "BUSY at shop.0003_item_sku: gave up after 3 attempt(s)" in busy_line, busy_line
        assert "left at shop.0002_tag" in busy_line, busy_line
        if kind == "postgres":
            assert "rolled back" in busy_line, busy_line
        else:
            assert "nothing of it applied" in busy_line, busy_line
        assert "1 busy" in out, out  # the summary
        assert applied(server, names[2]) == ["0001_initial", "0002_tag"]
        assert "shop_tag" in tables(server, names[2])
        assert "sku" not in columns(server, names[2], "shop_item")
        assert applied(server, names[0]) == ["0001_initial", "0002_tag", "0003_item_sku"]
        (record,) = [p for p in journal.glob("*.jsonl")]
        outcome = [json.loads(line) for line in record.read_text().splitlines() if '"t2"' in line][-1]
        assert (outcome["status"], outcome["step"]) == ("busy", "shop.0003_item_sku"), outcome

        again = run(migrate_args(example, journal, "--only-failed", "--json"), example)

        assert again.returncode == ExitCode.OK, again.stdout + again.stderr
        assert statuses(report_of(again.stdout)) == {"t2": "migrated"}
        assert applied(server, names[2]) == ["0001_initial", "0002_tag", "0003_item_sku"]


def test_mariadb_partly_applied_migration_is_failed_not_retried(tmp_path: Path) -> None:
    """MariaDB commits DDL at once: blocked after a first operation, the migration is partly applied."""
    server = require(MYSQL)
    with server.databases(2, prefix="trpart") as names:
        example = shop_site(tmp_path, server, names, note_first=True)
        with held(server, names[1]):
            result = run(migrate_args(example, tmp_path / "journal", *FAST, "--json"), example)

        assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
        lines = events(result.stdout)
        assert not [e for e in lines if e["event"] == "tenant_requeued"]
        row = next(r for r in report_of(result.stdout)["results"] if r["tenant"] == "t1")
        assert row["status"] == "failed", row
        assert row["failed_step"] == "shop.0003_item_sku"
        assert "after 1 of its statement(s) had committed" in row["error"], row
        assert "partly applied and not recorded" in row["error"], row
        assert "left at shop.0002_tag plus part of shop.0003_item_sku" in row["error"], row
        assert "shop_note" in tables(server, names[1])  # what MariaDB left behind
        assert applied(server, names[1]) == ["0001_initial", "0002_tag"]
        assert statuses(report_of(result.stdout))["t0"] == "migrated"


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_a_runaway_statement_fails_its_database_without_retries(tmp_path: Path, kind: str) -> None:
    """--statement-timeout: a data migration running too long fails (rolled back), never requeued.
    MariaDB names the limit max_statement_time (MySQL: max_execution_time); the ORM says which."""
    server = require(POSTGRES if kind == "postgres" else MYSQL)
    db, sleep = ("current_database()", "pg_sleep") if kind == "postgres" else ("DATABASE()", "SLEEP")
    with server.databases(2, prefix="trslow") as names:
        example = shop_site(tmp_path, server, names)
        add_app(example, "slow", {"0001_sleep": SLOW_0001.format(db=db, sleep=sleep)})
        result = run(
            migrate_args(example, tmp_path / "journal", "--statement-timeout", "0.5", "--json"), example
        )

        assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
        report = report_of(result.stdout)
        assert statuses(report) == {"t0": "migrated", "t1": "failed"}
        row = next(r for r in report["results"] if r["tenant"] == "t1")
        assert row["failed_step"] == "slow.0001_sleep"
        undone = "rolled back" if kind == "postgres" else "nothing of it applied"  # no DDL transaction
        assert f"ran longer than --statement-timeout 0.5s; {undone}, left at slow zero" in row["error"], row
        assert not [e for e in events(result.stdout) if e["event"] in ("tenant_requeued", "tenant_busy")]


def test_alembic_revision_waits_out_its_lock_and_ends_busy_rolled_back(tmp_path: Path) -> None:
    """Alembic on PostgreSQL (the example's env.py builds its own engine, one transaction per upgrade):
    the blocked revision and the one before it in the same transaction are rolled back: busy at the start."""
    server = require(POSTGRES)
    with server.databases(3, prefix="tralem") as names:
        example = clinic_copy(tmp_path)
        tenants = {
            f"t{i}": {
                "clinic": {"orm_config": {"sqlalchemy_orm": {"default": {"URL": server.sqlalchemy_url(n)}}}}
            }
            for i, n in enumerate(names)
        }
        (example / "tenant_config.json").write_text(json.dumps({"tenant_config": tenants}))

        def args(*extra: str) -> list[str]:
            base = migrate_args(example, tmp_path / "journal", *extra)
            return [("sqlalchemy_orm" if a == "django_orm" else a) for a in base]

        assert run(args("--target", "3f2a1c9e0b11"), example).returncode == 0
        with held(server, names[1], "invoice"):  # 9e6b3f1d7a33 indexes invoice
            result = run(args(*FAST, "--lock-retries", "1", "--json"), example)

        assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
        report = report_of(result.stdout)
        assert statuses(report) == {"t0": "migrated", "t1": "busy", "t2": "migrated"}
        row = next(r for r in report["results"] if r["tenant"] == "t1")
        assert row["failed_step"] == "9e6b3f1d7a33" and row["current"] == "3f2a1c9e0b11", row
        assert "rolled back, left at 3f2a1c9e0b11" in row["error"], row
        requeued = [e for e in events(result.stdout) if e["event"] == "tenant_requeued"]
        assert [(e["tenant"], e["attempt"], e["retries"]) for e in requeued] == [("t1", 1, 1)]
        conn = _connect(server, names[1])
        try:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("3f2a1c9e0b11",)]
        finally:
            conn.close()


def test_sqlite_database_locked_by_a_writer_ends_busy(site: Any) -> None:
    """SQLite: another connection holds the write lock; busy_timeout is --lock-wait, then `busy`, exit 1."""
    setup = site.invoke("migrate", "--settings", site.settings_module, "--orm", "django_orm",
                        "--target", "patients", "0001_initial", "--no-journal")  # fmt: skip
    assert setup.exit_code == 0, setup.output
    before = site.databases[1].applied()
    writer = sqlite3.connect(site.databases[1].path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the write lock, as a busy application holds it
    try:
        result = site.invoke(
            "migrate", "--settings", site.settings_module, "--lock-wait", "0.3", "--lock-retries", "1",
            "--lock-retry-delay", "0", "--jobs", "1", "--no-journal", "--no-progress",
        )  # fmt: skip
    finally:
        writer.rollback()
        writer.close()

    assert result.exit_code == ExitCode.FAILED, result.output
    assert "tenant-2/default: waiting for lock, retry 1/1 in 0s" in result.stdout, result.stdout
    assert "tenant-2/default: BUSY at " in result.stdout, result.stdout
    assert "database is locked" in result.stdout, result.stdout
    busy_line = next(line for line in result.stdout.splitlines() if "BUSY" in line)
    assert float(re.search(r"\((\d+\.\d+)s\)$", busy_line)[1]) < 3  # not Django's 5 s busy timeout
    assert "tenant-1/default: migrated" in result.stdout and "tenant-3/default: migrated" in result.stdout
    assert re.search(r"^Summary: .*, 1 busy$", result.stdout, re.M), result.stdout
    assert site.databases[1].applied() == before  # rolled back to where it was
    assert len(site.databases[0].applied()) > len(before)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lock-wait", "-1"), "--lock-wait must be a finite number of seconds above 0"),
        (("--lock-wait", "inf"), "--lock-wait must be a finite number of seconds above 0"),
        (("--lock-wait", "0"), "--lock-wait must be a finite number of seconds above 0"),
        (("--statement-timeout", "nan"), "--statement-timeout must be a finite number of seconds above 0"),
        (("--lock-wait", "1", "--lock-retries", "-1"), "--lock-retries must be 0 or more"),
        (("--lock-wait", "1", "--lock-retry-delay", "-2"), "--lock-retry-delay must be a finite number"),
        (("--lock-retries", "2"), "--lock-retries and --lock-retry-delay need --lock-wait"),
    ],
)
def test_lock_options_are_checked_before_anything_is_touched(
    site: Any, args: tuple[str, ...], message: str
) -> None:
    result = site.invoke("migrate", "--settings", site.settings_module, *args, "--no-journal")

    assert result.exit_code == ExitCode.USAGE, result.output
    assert message in result.stderr, result.stderr
    assert not any(db.table_names() for db in site.databases)


def test_live_view_and_library_twin_show_the_wait_and_the_busy_row(site: Any) -> None:
    """migrate_tenants(policy=RunPolicy(locks=LockPolicy(wait=...))): the live row says `waiting` with its retry, then `busy`; the
    terminal summary has a busy row; the report's JSON says busy, at the last good boundary."""
    from support.terminal import render, terminal, text_of

    from tenant_router import LockPolicy, RunPolicy, load_config, migrate_tenants
    from tenant_router.record.events import MigrationEvent, TenantRequeued
    from tenant_router_cli.live import LiveProgress
    from tenant_router_cli.render import render_summary

    output = terminal(120, 40)
    live = LiveProgress(output)
    seen: list[list[str]] = []

    def on_event(event: MigrationEvent) -> None:
        live(event)
        if isinstance(event, TenantRequeued):
            seen.append(render(live, 120, 40))

    writer = sqlite3.connect(site.databases[0].path, isolation_level=None)
    writer.execute("CREATE TABLE app_data (id INTEGER)")
    writer.execute("BEGIN IMMEDIATE")
    try:
        locks = LockPolicy(wait=0.2, retries=2, retry_delay=0.05)
        report = migrate_tenants(load_config(), policy=RunPolicy(locks=locks), on_event=on_event)
    finally:
        writer.rollback()
        writer.close()
    render_summary(output, report)

    waiting = [line for line in seen[1] if line.startswith("tenant-1/default")]
    assert re.search(r"waiting\s+lock: retry 2/2 in 0.1s", waiting[0]), seen
    final = [line for line in render(live, 120, 40) if line.startswith("tenant-1/default")]
    assert "busy" in final[0], final
    summary = text_of(output.out)
    assert re.search(r"│ busy\s+│\s+1 │", summary), summary
    assert re.search(r"^django_orm  tenant-1/default  busy  ", summary, re.M), (
        summary
    )  # one line per database
    row = report.to_dict()["results"][1]
    assert (row["tenant"], row["status"], row["current"]) == ("tenant-1", "busy", "zero"), row
    assert report.counts()["busy"] == 1 and not report.ok


def test_a_busy_reserved_database_stops_the_run_before_any_tenant(tmp_path: Path) -> None:
    """The shared database goes first and alone: busy at once (no requeue), and no tenant is touched."""
    example = clinic_copy(tmp_path)
    central = example / "var" / "central.sqlite3"
    central.parent.mkdir(exist_ok=True)
    writer = sqlite3.connect(central, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        result = run(migrate_args(example, tmp_path / "journal", "--lock-wait", "0.3", "--json"), example)
    finally:
        writer.rollback()
        writer.close()

    assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
    report = report_of(result.stdout)
    rows = {(r["tenant"], r["alias"]): r["status"] for r in report["results"]}
    assert rows[(None, "central")] == "busy", rows
    assert set(statuses(report).values()) == {"not_started"}, rows
    assert report["stopped"] == "reserved database 'central' of django_orm busy", report["stopped"]
    assert not [e for e in events(result.stdout) if e["event"] == "tenant_requeued"]
    assert not list((example / "var").glob("tenant-*.sqlite3"))


def test_celery_workers_report_busy_and_the_run_requeues_it(tmp_path: Path) -> None:
    """--executor celery: the worker reports the lock wait, the run (not the worker) requeues the
    database on the queue and settles it busy; the limits travel to the worker with the run's setup."""
    from support.celery_workers import Workers, redis_db, require_redis, unique_queue

    require_redis()
    server = require(POSTGRES)
    with server.databases(3, prefix="trcel") as names:
        example = clinic_copy(tmp_path)
        write_tenants(example, {f"t{i}": server.django_settings(n) for i, n in enumerate(names)})
        workers = Workers(example, unique_queue(), redis_db())
        journal = tmp_path / "journal"
        first = run(migrate_args(example, journal, "--target", "patients", "0001_initial"), example)
        assert first.returncode == 0, first.stdout + first.stderr
        try:
            workers.start("w1", concurrency=2)
            celery = ["--executor", "celery", "--celery-app", "clinic.celery:app", "--queue", workers.queue]
            with held(server, names[1], "patients_visit"):  # patients.0003 indexes it
                result = run(
                    migrate_args(example, journal, *FAST, "--lock-retries", "1", "--json", *celery),
                    example, env=workers.env(),
                )  # fmt: skip
        finally:
            workers.stop_all()

    assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
    report = report_of(result.stdout)
    assert statuses(report) == {"t0": "migrated", "t1": "busy", "t2": "migrated"}, report
    row = next(r for r in report["results"] if r["tenant"] == "t1")
    assert (row["failed_step"], row["current"]) == ("patients.0003_visit_index", "patients.0002_seed_wards")
    assert (
        "gave up after 2 attempt(s): no lock within --lock-wait 0.5s in patients.0003_visit_index"
        in row["error"]
    )
    kinds = [e["event"] for e in events(result.stdout) if e.get("tenant") == "t1"]
    assert kinds.count("tenant_busy") == 2 and kinds.count("tenant_requeued") == 1, kinds
    assert kinds.count("tenant_started") == 2 and kinds[-1] == "tenant_failed", kinds
