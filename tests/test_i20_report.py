"""Issue 20 items 14, 15, 16 and 18 (first half): what the report says, at a terminal and in plain text.

14: the "migration" column says what a person means (the next migrations of a pending database, the
last one this run applied, "rolled back N"), not the last row of django_migrations.
15: at 80 columns, long tenant ids are shortened in the middle with the alias kept; the end-of-run
summary is one line per database.
16: --only-failed reads the latest outcome of each database across the journal's runs, and says which.
18: the configured ORM order, everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.sites import Database, TenantSite, activate, sqlite_site
from support.sqlalchemy_sites import make_site
from support.terminal import render, terminal, text_of

from tenant_router import RunPolicy, Selection, load_config, migrate_tenants
from tenant_router.record.events import RunStarted, Status, TenantFinished
from tenant_router.record.report import MigrationReport
from tenant_router_cli.exit_codes import ExitCode
from tenant_router_cli.live import LiveProgress
from tenant_router_cli.render import render_summary

BROKEN = "CREATE TABLE patients_patient (id integer)"  # patients.0001_initial then fails on it
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[TenantSite]:
    """Five SQLite tenants."""
    yield from activate(sqlite_site(tmp_path, 5))


def migrate(site: TenantSite, journal: Path, *args: str) -> Any:
    return site.invoke("migrate", "--settings", site.settings_module, "--journal", str(journal), *args)


def started(result: Any) -> list[str]:
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return [e["tenant"] for e in lines if e["event"] == "tenant_started" and e["tenant"]]


# -- item 16: --only-failed after an unrelated clean run -------------------------------------------------


def test_only_failed_reads_the_latest_outcome_of_each_database_across_runs(
    fleet: TenantSite, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    fleet.db("tenant-2").execute(BROKEN)
    first = migrate(fleet, journal, "--json")
    assert first.exit_code == ExitCode.FAILED, first.output
    failed_run = json.loads(first.stdout.splitlines()[-1])["run"]
    clean = migrate(fleet, journal, "--tenant", "tenant-[45]", "--json")  # unrelated, successful
    assert clean.exit_code == ExitCode.OK, clean.output
    fleet.db("tenant-2").execute("DROP TABLE patients_patient")  # fixed

    again = migrate(fleet, journal, "--only-failed=last", "--json")

    assert again.exit_code == ExitCode.OK, again.output
    assert started(again) == ["tenant-2"]
    (said,) = [line for line in again.stderr.splitlines() if line.startswith("--only-failed")]
    assert failed_run in said and "1 database(s) to redo" in said, said

    done = migrate(fleet, journal, "--only-failed=last")  # tenant-2's latest outcome is now migrated
    assert done.exit_code == ExitCode.OK, done.output
    (said,) = [line for line in done.stderr.splitlines() if line.startswith("--only-failed")]
    assert "nothing to redo" in said and "3 run(s)" in said, said
    assert "tenant-" not in done.stdout  # only the reserved database is visited


def test_only_failed_with_a_run_id_says_that_run_had_nothing(fleet: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    clean = migrate(fleet, journal, "--tenant", "tenant-1", "--json")
    run_id = json.loads(clean.stdout.splitlines()[-1])["run"]

    result = migrate(fleet, journal, "--only-failed", run_id)

    assert result.exit_code == ExitCode.OK, result.output
    (said,) = [line for line in result.stderr.splitlines() if line.startswith("--only-failed")]
    assert said == f"--only-failed: nothing to redo: run {run_id} brought every database to an end.", said


# -- item 18: the configured ORM order ------------------------------------------------------------------


def test_summary_keeps_the_configured_orm_order_when_the_second_is_up_to_date(tmp_path: Path) -> None:
    folder = tmp_path / "dbs"
    folder.mkdir()
    urls = {f"tenant-{i}": f"sqlite:///{folder / f'sa{i}.sqlite3'}" for i in (1, 2)}
    site = make_site(tmp_path / "site", urls)  # django_orm first, then sqlalchemy_orm
    assert site.run("migrate", "--no-journal", "--orm", "sqlalchemy_orm").returncode == ExitCode.OK

    plain = site.run("migrate", "--no-journal", "--jobs", "1")
    as_json = site.run("migrate", "--no-journal", "--jobs", "1", "--json", "--orm", "sqlalchemy_orm")

    assert plain.returncode == ExitCode.OK, plain.stdout + plain.stderr
    per_orm = [line.split(":")[0].strip() for line in plain.stdout.splitlines() if line.startswith("  ")]
    assert per_orm == ["django_orm", "sqlalchemy_orm"], plain.stdout
    assert plain.stdout.splitlines()[0] == "Migrating 4 database(s) of django_orm, sqlalchemy_orm"
    assert as_json.returncode == ExitCode.OK
    # the terminal summary: a column per ORM, in the configured order
    report = MigrationReport()
    report.emit(RunStarted(4, ("django_orm", "sqlalchemy_orm")))
    for orm, status in (("sqlalchemy_orm", Status.UP_TO_DATE), ("django_orm", Status.MIGRATED)):
        for tenant in urls:
            report.emit(TenantFinished(orm, tenant, "default", status, 0, None, 0.1))
    assert report.orms() == ["django_orm", "sqlalchemy_orm"]
    assert list(report.to_dict()["results"][0].values())[:2] == ["django_orm", "tenant-1"]
    out = terminal(80, 40)
    render_summary(out, report)
    (header,) = [line for line in text_of(out.out).splitlines() if "status" in line]
    assert header.index("django_orm") < header.index("sqlalchemy_orm"), header


# -- item 14: the "migration" column says what a person means ---------------------------------------------

LEGACY_BACK = ("--orm", "django_orm", "--target", "legacy", "0004")


def plain(site: TenantSite, *args: str) -> Any:
    return site.invoke("migrate", "--settings", site.settings_module, "--no-journal", "--jobs", "1", *args)


def test_rollback_pending_and_migrated_rows_name_the_app_that_moved(site: TenantSite) -> None:
    """`legacy` is not the app Django migrates last (`patients` is): its rows must still name it."""
    assert plain(site).exit_code == ExitCode.OK

    back = plain(site, *LEGACY_BACK)
    status = site.invoke("status", "--settings", site.settings_module, "--tenants")
    as_json = site.invoke("status", "--settings", site.settings_module, "--json")
    events: list[Any] = []
    live = LiveProgress(terminal(160, 40))
    report = migrate_tenants(load_config(), on_event=lambda e: (events.append(e), live(e)))
    forward = plain(site)  # nothing left to do

    assert back.exit_code == ExitCode.OK, back.output
    rows = [line for line in back.stdout.splitlines() if "tenant-" in line and "started" not in line]
    assert len(rows) == 3 and all(
        line.endswith(")") and ": migrated, rolled back 2 to legacy.0004_vendor (" in line for line in rows
    ), rows
    assert "patients.0003" not in back.stdout
    # status while legacy.0005/0006 are pending: the next migrations, not the last row of another app
    assert status.exit_code == ExitCode.OK, status.output
    assert "    tenant-1/default  next legacy.0005_draft (+1 more)" in status.stdout.splitlines(), (
        status.stdout
    )
    assert "tenant-1/default  at patients.0003" not in status.stdout
    (pending,) = [g for g in json.loads(as_json.stdout)["orms"][0]["groups"] if g["state"] == "pending"]
    assert pending["pending"] == ["legacy.0005_draft", "legacy.0006_rename_draft_sketch"]
    # the live view: a planned row reads "next ...", a finished one the last migration this run applied
    assert report.ok and forward.exit_code == ExitCode.OK
    planned = LiveProgress(terminal(160, 40))
    for event in events:
        planned(event)
        if type(event).__name__ == "TenantPlanned" and event.tenant == "tenant-1":
            break
    (row,) = [line for line in render(planned, 160, 40) if line.startswith("tenant-1/default")]
    assert "next legacy.0005_draft (+1)" in row and "patients" not in row, row
    (row,) = [line for line in render(live, 160, 40) if line.startswith("tenant-1/default")]
    assert "legacy.0006_rename_draft_sketch" in row and "migrated" in row, row
    assert {r.current for r in report.rows() if r.tenant} == {"legacy.0006_rename_draft_sketch"}


def test_live_rollback_row_says_rolled_back(site: TenantSite) -> None:
    assert plain(site).exit_code == ExitCode.OK
    live = LiveProgress(terminal(160, 40))

    report = migrate_tenants(
        load_config(),
        Selection(orms=("django_orm",), tenants=("tenant-1",)),
        RunPolicy(target=("legacy", "zero")),
        on_event=live,
    )

    assert report.ok
    (row,) = [line for line in render(live, 160, 40) if line.startswith("tenant-1/default")]
    assert "rolled back 6 to legacy zero" in row and "patients" not in row, row
    assert [r.current for r in report.rows() if r.tenant] == ["legacy zero"]


# -- item 15: 80 columns --------------------------------------------------------------------------------

LONG = [f"pg-enterprise-customer-with-a-really-long-identifier-{n:02d}" for n in (1, 2, 3)]


@pytest.fixture
def long_ids(tmp_path: Path) -> Iterator[TenantSite]:
    """Three SQLite tenants whose ids differ only at the end; the last two fail with a long error."""
    site = TenantSite(tmp_path)
    for i, tenant in enumerate(LONG):
        site.databases.append(Database(tenant, {"NAME": f"db{i}.sqlite3"}, path=tmp_path / f"db{i}.sqlite3"))
    for active in activate(site):
        for tenant in LONG[1:]:
            active.db(tenant).execute(BROKEN)
        yield active


def test_80_columns_keep_ids_apart_with_their_alias_and_one_line_per_database(long_ids: TenantSite) -> None:
    output = terminal(80, 30)
    live = LiveProgress(output)
    report = migrate_tenants(load_config(), Selection(orms=("django_orm",)), on_event=live)
    render_summary(output, report)

    assert len(report.failures) == 2
    rows = [line for line in render(live, 80, 30) if line.startswith("pg-")]
    assert len(rows) == 3 and all(len(line) <= 80 for line in rows), rows
    names = [line.split("  ")[0].strip() for line in rows]
    assert len(set(names)) == 3, names  # three tenants, three names
    for name, n in zip(names, ("01", "02", "03"), strict=True):
        assert name.startswith("pg-enterpr") and name.endswith(f"-{n}/default") and "…" in name, name
    # the summary: one line per database that did not complete, ids never split across lines
    summary = text_of(output.out).split("tenant-router: ")[-1].splitlines()
    assert all(len(line) <= 80 for line in summary), summary
    failed = [line for line in summary if "failed" in line and "default" in line]
    assert len(failed) == 2, summary
    assert [n for n in ("01", "02", "03") if any(f"-{n}/default" in line for line in failed)] == ["02", "03"]
    assert not any(line.strip() in ("ault", "default") for line in summary), summary
    # plain output keeps every id whole, one line per failed database
    plain = long_ids.invoke("migrate", "--settings", long_ids.settings_module, "--no-journal", "--jobs", "1")
    lines = plain.stdout.splitlines()
    failed_lines = lines[lines.index("Failed (2):") + 1 :]
    assert [line.split(" at ")[0] for line in failed_lines[:2]] == [
        f"  django_orm {t}/default" for t in LONG[1:]
    ]


def test_a_target_already_reached_is_where_the_database_is(site: TenantSite) -> None:
    """Up to date under --target: the row names the target, not the last row of another app."""
    assert plain(site).exit_code == ExitCode.OK
    assert plain(site, *LEGACY_BACK).exit_code == ExitCode.OK

    again = plain(site, *LEGACY_BACK, "--tenant", "tenant-1")

    assert again.exit_code == ExitCode.OK, again.output
    assert "tenant-1/default: up to date at legacy.0004_vendor (" in again.stdout, again.stdout


def test_plan_with_only_failed_shows_only_what_would_be_redone(fleet: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    fleet.db("tenant-2").execute(BROKEN)
    assert migrate(fleet, journal, "--tenant", "tenant-[12]").exit_code == ExitCode.FAILED

    plan = migrate(fleet, journal, "--only-failed=last", "--plan")

    assert plan.exit_code == ExitCode.OK, plan.output
    assert "tenant-2/default" in plan.stdout and "tenant-3" not in plan.stdout, plan.stdout
    assert "--only-failed: 1 database(s) to redo" in plan.stderr
