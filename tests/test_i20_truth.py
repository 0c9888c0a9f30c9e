"""Issue 20, items 3, 4 and 11 (second half): after a failure, an interrupt or a lock wait, every row says
what the database holds, re-read from it, never what the steps that ran would suggest."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from support.clinic import add_app, clinic_copy, migrate_args, write_django_tenants
from support.processes import CLI, Streamed, clean_environment, is_event, report_of, wait_until
from support.servers import POSTGRES, pg_query, require
from support.sqlalchemy_sites import REVISIONS, database_urls, execute, make_site, rows, version
from support.sqlalchemy_sites import report_of as sa_report_of
from support.terminal import render, terminal, text_of
from test_lock_safety import FAST, SHOP_0001, SHOP_0002, SHOP_0003, held

from tenant_router.record import events as event_types
from tenant_router.record.report import MigrationReport
from tenant_router_cli.exit_codes import ExitCode
from tenant_router_cli.live import LiveProgress
from tenant_router_cli.render import render_summary

KINDS = {
    cls.kind: cls
    for cls in vars(event_types).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and hasattr(cls, "kind")
}


def events_of(lines: list[dict[str, Any]]) -> list[Any]:
    """The events a run's --json output carried, as the library's event objects."""
    found = []
    for line in lines:
        cls = KINDS.get(line["event"])
        if cls is None:
            continue
        fields = {f.name: line.get(f.name) for f in dataclasses.fields(cls) if f.name in line}
        for name, value in fields.items():
            if isinstance(value, list):
                fields[name] = tuple(value)
            elif name == "status" and value is not None:
                fields[name] = event_types.Status(value)
        found.append(cls(**fields))
    return found


def replay(lines: list[dict[str, Any]], width: int = 120, height: int = 30) -> list[str]:
    """The live view of a run, rebuilt from the events its --json output carried."""
    live = LiveProgress(terminal(width, height))
    for event in events_of(lines):
        live(event)
    return render(live, width, height)


# -- item 3: Alembic in one transaction ------------------------------------------------------------------


def test_alembic_rows_after_a_one_transaction_rollback_count_nothing_applied(tmp_path: Path) -> None:
    """The stock env.py runs every revision in one transaction: c3 fails, a1 and b2 go with it. The JSON
    row, the event and the live row say nothing was applied, and name what was rolled back."""
    with database_urls("postgres", tmp_path, 1) as urls:
        execute(urls[0], "CREATE TABLE ledger_reference_key (id integer)")  # c3's constraint name is taken
        site = make_site(tmp_path / "site", {"tenant-1": urls[0]}, style="url", django=False)

        result, lines = site.run_json("migrate")

        assert result.returncode == 1, result.stderr
        assert version(urls[0]) == []
        row = rows(sa_report_of(lines), "sqlalchemy_orm")["tenant-1"]
        assert row["current"] == "base", row
        assert row["applied"] == [] and row["applied_count"] == 0, row
        assert row["rolled_back"] == ["a1000000001a", "b2000000002b"], row
        failed = next(e for e in lines if e["event"] == "tenant_failed")
        assert failed["undone"] == ["a1000000001a", "b2000000002b"], failed
        (line,) = [text for text in replay(lines) if "tenant-1" in text]
        assert "0/3" in line and "2/3" not in line, line
        assert "at base" in line, line
        (journal,) = (site.root / ".tenant-router" / "journal").glob("*.jsonl")
        kept = [json.loads(text) for text in journal.read_text().splitlines()]
        settled = next(k for k in kept if k.get("tenant") == "tenant-1" and "status" in k)  # not its start
        assert settled["current"] == "base" and settled["rolled_back"] == REVISIONS[:2], settled


# -- item 4: interrupts -----------------------------------------------------------------------------------

PLANS_0001 = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Plan",
            fields=[("id", models.BigAutoField(primary_key=True)), ("name", models.CharField(max_length=20))],
        ),
    ]
"""
#: Seeds plans, then (only with TR_SLOW set) sleeps TR_SLOW seconds in one statement.
PLANS_0002 = """
import os

from django.db import migrations


def seed(apps, schema_editor):
    apps.get_model("plans", "Plan").objects.create(name="basic")
    if os.environ.get("TR_SLOW"):
        schema_editor.execute(f"SELECT pg_sleep({float(os.environ['TR_SLOW'])})")


class Migration(migrations.Migration):
    dependencies = [("plans", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
"""


PLANS_0003 = """
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("plans", "0002_seed_plans")]
    operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
"""


def plans_site(tmp_path: Path, names: list[str]) -> Path:
    """The clinic example plus a `plans` app whose 0002 can run a long statement, tenants on `names`."""
    example = clinic_copy(tmp_path)
    add_app(
        example, "plans", {"0001_initial": PLANS_0001, "0002_seed_plans": PLANS_0002, "0003_more": PLANS_0003}
    )
    write_django_tenants(example, {f"t{i}": POSTGRES.django_settings(n) for i, n in enumerate(names)})
    return example


def sleeping(name: str) -> list[tuple[Any, ...]]:
    """Backends of database `name` running the long statement."""
    return pg_query(
        "postgres",
        f"SELECT pid FROM pg_stat_activity WHERE datname = '{name}' AND query LIKE 'SELECT pg_sleep(%'",
    )


def test_two_interrupts_in_a_long_statement_end_it_and_rows_say_what_the_database_holds(
    tmp_path: Path,
) -> None:
    """Two SIGINTs while plans.0002 runs a long statement: exit 130; the row names where the database
    is (plans.0001, re-read), not the step it was in; the server runs the statement no more, so an
    immediate --only-failed is not `locked` and migrates it."""
    server = require(POSTGRES)
    with server.databases(1, prefix="trint") as names:
        example = plans_site(tmp_path, names)
        journal = tmp_path / "journal"
        env = clean_environment(TR_SLOW="60")
        run = Streamed([*migrate_args(example, journal, "--jobs", "2", "--json")], example, env)
        try:
            run.wait_for(is_event("step_started", step="plans.0002_seed_plans"))
            wait_until(lambda: sleeping(names[0]), "the long statement")
            run.proc.send_signal(signal.SIGINT)
            run.wait_for_error("stopping after the running migrations")
            run.proc.send_signal(signal.SIGINT)
            code, out, err = run.finish()
        finally:
            run.kill()

        assert code == ExitCode.INTERRUPTED, out + err
        row = next(r for r in report_of(out)["results"] if r["tenant"] == "t0")
        assert row["status"] == "interrupted", row
        assert row["failed_step"] == "plans.0002_seed_plans", row
        assert row["current"] == "plans.0001_initial" and not row["current_unknown"], row
        assert ("plans", "0002_seed_plans") not in applied(names[0])
        lines = [json.loads(line) for line in out.splitlines()]
        (live_row,) = [text for text in replay(lines, width=200) if "t0/default" in text]
        assert "at plans.0001_initial; stopped in plans.0002_seed_plans" in live_row, live_row
        assert not sleeping(names[0])  # the run ended its statement on the server
        again = subprocess.run(
            migrate_args(example, journal, "--only-failed", "--json"),
            cwd=example, env=clean_environment(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert again.returncode == 0, again.stdout + again.stderr
        assert ("plans", "0002_seed_plans") in applied(names[0])


SLOW_REVISION = """
import os

from alembic import op

revision = "d4000000004d"
down_revision = "c3000000003c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"SELECT pg_sleep({float(os.environ.get('TR_SLOW', '0'))})")


def downgrade() -> None:
    pass
"""


def test_two_interrupts_in_one_alembic_transaction_count_nothing_applied(tmp_path: Path) -> None:
    """--jobs 1, the stock env.py (one transaction): two SIGINTs in d4 roll a1..c3 back with it. The row
    says base, nothing applied, a1..c3 rolled back; not `c3000000003c`, 3 applied."""
    with database_urls("postgres", tmp_path, 1) as urls:
        site = make_site(tmp_path / "site", {"tenant-1": urls[0]}, style="url", django=False)
        (site.root / "alembic" / "versions" / "d4000000004d_slow.py").write_text(SLOW_REVISION)
        args = [*CLI, "migrate", "--jobs", "1", "--json", "--settings", site.module, "--pythonpath"]
        env = clean_environment(TR_SLOW="60")
        run = Streamed([*args, str(site.root)], site.root, env)
        try:
            run.wait_for(is_event("step_started", step="d4000000004d"))
            name = urls[0].rsplit("/", 1)[1]
            wait_until(lambda: sleeping(name), "the long statement")
            run.proc.send_signal(signal.SIGINT)
            run.wait_for_error("stopping after the running migrations")
            run.proc.send_signal(signal.SIGINT)
            code, out, err = run.finish()
        finally:
            run.kill()

        assert code == ExitCode.INTERRUPTED, out + err
        assert version(urls[0]) == []
        row = next(r for r in report_of(out)["results"] if r["tenant"] == "tenant-1")
        assert row["status"] == "interrupted" and row["current"] == "base", row
        assert row["applied"] == [] and row["rolled_back"] == REVISIONS, row
        assert not sleeping(name)


def test_one_interrupt_the_summary_says_where_each_database_stopped(tmp_path: Path) -> None:
    """One SIGINT in plans.0002: it finishes, the run stops before plans.0003 (exit 130), and the
    summary's row says where the database is (`at plans.0002_seed_plans`), not `-`."""
    server = require(POSTGRES)
    with server.databases(1, prefix="trint1") as names:
        example = plans_site(tmp_path, names)
        env = clean_environment(TR_SLOW="1")
        run = Streamed([*migrate_args(example, tmp_path / "journal", "--jobs", "1", "--json")], example, env)
        try:
            run.wait_for(is_event("step_started", step="plans.0002_seed_plans"))
            wait_until(lambda: sleeping(names[0]), "the long statement")
            run.proc.send_signal(signal.SIGINT)
            code, out, err = run.finish()
        finally:
            run.kill()

        assert code == ExitCode.INTERRUPTED, out + err
        row = next(r for r in report_of(out)["results"] if r["tenant"] == "t0")
        assert row["status"] == "interrupted" and row["current"] == "plans.0002_seed_plans", row
        report = MigrationReport()
        report.interrupted = True
        for event in events_of([json.loads(line) for line in out.splitlines()]):
            report.emit(event)
        output = terminal(160, 50)
        render_summary(output, report)
        (summary_row,) = [line for line in text_of(output.out).splitlines() if "t0/default" in line]
        assert "at plans.0002_seed_plans" in summary_row, summary_row


def applied(name: str) -> list[tuple[str, str]]:
    """(app, name) rows of django_migrations in database `name`."""
    return [(a, n) for a, n in pg_query(name, "SELECT app, name FROM django_migrations ORDER BY id")]


def test_after_a_kill_9_the_locked_row_names_the_server_process_still_running(tmp_path: Path) -> None:
    """kill -9 of a run (nothing of it can clean up) while a statement runs: the next run is `locked`
    (exit 5), and says the holder may be that killed run's statement, naming its server process."""
    server = require(POSTGRES)
    with server.databases(1, prefix="trk9") as names:
        example = plans_site(tmp_path, names)
        journal = tmp_path / "journal"
        env = clean_environment(TR_SLOW="60")
        run = Streamed([*migrate_args(example, journal, "--jobs", "1", "--json")], example, env)
        try:
            run.wait_for(is_event("step_started", step="plans.0002_seed_plans"))
            ((pid,),) = wait_until(lambda: sleeping(names[0]), "the long statement")
            run.proc.kill()
            run.proc.wait(timeout=30)
        finally:
            run.kill()
        try:
            again = subprocess.run(
                migrate_args(example, journal, "--only-failed", "--json"),
                cwd=example, env=clean_environment(), capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        finally:
            pg_query("postgres", f"SELECT pg_terminate_backend({pid})")

        assert again.returncode == ExitCode.LOCKED, again.stdout + again.stderr
        row = next(r for r in report_of(again.stdout)["results"] if r["tenant"] == "t0")
        assert row["status"] == "locked", row
        assert f"PostgreSQL server process {pid}" in row["error"], row
        assert "a killed run's statement still running on the server" in row["error"], row


# -- item 11, second half: a busy tenant's position ------------------------------------------------------


def test_a_busy_row_names_where_the_app_it_was_migrating_is(tmp_path: Path) -> None:
    """shop.0003 waits out --lock-wait after the run applied other apps' migrations: the busy row is
    left at shop.0002_tag (its own app), not at the last migration of another app."""
    server = require(POSTGRES)
    with server.databases(1, prefix="trbusy") as names:
        example = clinic_copy(tmp_path)
        shop = {"0001_initial": SHOP_0001, "0002_tag": SHOP_0002, "0003_item_sku": SHOP_0003 % ""}
        add_app(example, "shop", shop)
        write_django_tenants(example, {"t0": server.django_settings(names[0])})
        journal = tmp_path / "journal"
        setup = subprocess.run(
            migrate_args(example, journal, "--target", "shop", "0002_tag"),
            cwd=example, env=clean_environment(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert setup.returncode == 0, setup.stdout + setup.stderr
        with held(server, names[0]):
            result = subprocess.run(
                migrate_args(example, journal, *FAST, "--lock-retries", "0", "--json"),
                cwd=example, env=clean_environment(), capture_output=True, text=True, timeout=120,
            )  # fmt: skip

        assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
        row = next(r for r in report_of(result.stdout)["results"] if r["tenant"] == "t0")
        assert row["status"] == "busy" and row["failed_step"] == "shop.0003_item_sku", row
        last = applied(names[0])[-1]
        assert last[0] != "shop", last  # other apps were migrated after shop.0002 in this run
        assert "left at shop.0002_tag" in row["error"], row
        assert row["current"] == "shop.0002_tag", row


def children(pid: int) -> list[int]:
    """The process ids of `pid`'s children."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_a_worker_killed_in_a_long_statement_has_its_statement_ended_and_its_row_read(
    tmp_path: Path,
) -> None:
    """kill -9 of the worker (the run lives on) during plans.0002's long statement: the run ends the
    backend the worker left running, and the failed row says where the database is (plans.0001)."""
    server = require(POSTGRES)
    with server.databases(1, prefix="trwk") as names:
        example = plans_site(tmp_path, names)
        env = clean_environment(TR_SLOW="60")
        run = Streamed([*migrate_args(example, tmp_path / "journal", "--jobs", "2", "--json")], example, env)
        try:
            run.wait_for(is_event("step_started", step="plans.0002_seed_plans"))
            wait_until(lambda: sleeping(names[0]), "the long statement")
            (worker,) = children(run.proc.pid)
            os.kill(worker, signal.SIGKILL)
            code, out, err = run.finish()
        finally:
            run.kill()

        assert code == ExitCode.FAILED, out + err
        row = next(r for r in report_of(out)["results"] if r["tenant"] == "t0")
        assert row["status"] == "failed" and "worker process died" in row["error"], row
        assert row["failed_step"] == "plans.0002_seed_plans" and row["current"] == "plans.0001_initial", row
        assert not sleeping(names[0])


#: Fails after overwriting its own SQLite database with text: afterwards nobody can read it.
WRECK_0001 = """
from django.db import migrations


def wreck(apps, schema_editor):
    path = str(schema_editor.connection.settings_dict["NAME"])
    schema_editor.connection.close()
    with open(path, "w") as handle:
        handle.write("not a database any more")
    raise RuntimeError("wrecked")


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_visit_index")]
    operations = [migrations.RunPython(wreck, migrations.RunPython.noop)]
"""


def test_a_database_that_cannot_be_read_after_its_failure_is_said_unknown(tmp_path: Path) -> None:
    """The failed database cannot be read afterwards: its row says what it holds is unknown (JSON
    current null, current_unknown), not the last step it reported."""
    example = clinic_copy(tmp_path)
    add_app(example, "wreck", {"0001_wreck": WRECK_0001})
    write_django_tenants(example, {"t0": {"NAME": "var/t0.sqlite3"}})
    result = subprocess.run(
        migrate_args(example, tmp_path / "journal", "--jobs", "1", "--json"),
        cwd=example, env=clean_environment(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == ExitCode.FAILED, result.stdout + result.stderr
    row = next(r for r in report_of(result.stdout)["results"] if r["tenant"] == "t0")
    assert row["status"] == "failed" and row["failed_step"] == "wreck.0001_wreck", row
    assert row["current"] is None and row["current_unknown"] is True, row
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    (live_row,) = [text for text in replay(lines, width=200) if "t0/default" in text]
    assert "unknown (could not read it); stopped in wreck.0001_wreck" in live_row, live_row
