"""Operations: status, --plan/--check, --canary, --max-failures, the run journal, `runs`, --only-failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.clinic import clinic_copy, migrate_args, write_django_tenants
from support.processes import EXE, events, report_of, run
from support.sites import TenantSite, activate, sqlite_site

from tenant_router import (
    ExecutorSpec,
    JournalSpec,
    LockPolicy,
    RunPolicy,
    Selection,
    TenantStarted,
    UsageError,
    fleet_status,
    load_config,
    migrate_tenants,
)
from tenant_router.record.journal import Journal, find_run, header_for, read_run, runs
from tenant_router.record.report import MigrationReport
from tenant_router_cli.exit_codes import ExitCode

BROKEN = "CREATE TABLE patients_patient (id integer)"  # patients.0001_initial then fails on it


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[TenantSite]:
    """Five SQLite tenants."""
    yield from activate(sqlite_site(tmp_path, 5))


def migrate(site: TenantSite, journal: Path, *args: str) -> Any:
    return site.invoke("migrate", "--settings", site.settings_module, "--journal", str(journal), *args)


def report(result: Any) -> dict[str, Any]:
    line = json.loads(result.stdout.splitlines()[-1])
    assert line["event"] == "report", result.output
    return line


def statuses(result: Any) -> dict[str, str]:
    return {r["tenant"]: r["status"] for r in report(result)["results"] if r["tenant"]}


def started(result: Any) -> list[str]:
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return [e["tenant"] for e in lines if e["event"] == "tenant_started" and e["tenant"]]


def at_head(site: TenantSite, tenant: str) -> bool:
    return ("killer", "0001_kill_switch") in site.db(tenant).applied() and (
        "patients",
        "0003_visit_index",
    ) in site.db(tenant).applied()


# -- status, --plan, --check ------------------------------------------------------------------
def mixed_fleet(tmp_path: Path) -> Iterator[TenantSite]:
    """tenant-1/2 at head, tenant-3 rolled back to patients.0001, tenant-4 in a folder that does not exist."""
    site = sqlite_site(tmp_path, 4)
    site.databases[3].entry["NAME"] = str(tmp_path / "missing-dir" / "t4.sqlite3")
    journal = tmp_path / "journal"
    for active in activate(site):
        first = migrate(active, journal, "--tenant", "tenant-[123]")
        assert first.exit_code == ExitCode.OK, first.output
        back = migrate(
            active,
            journal,
            "--tenant",
            "tenant-3",
            "--orm",
            "django_orm",
            "--target",
            "patients",
            "0001_initial",
        )
        assert back.exit_code == ExitCode.OK, back.output
        yield active


@pytest.fixture
def mixed(tmp_path: Path) -> Iterator[TenantSite]:
    yield from mixed_fleet(tmp_path)


def test_status_line_counts_current_pending_and_unreachable(mixed: TenantSite) -> None:
    before = [db.applied() for db in mixed.databases[:3]]

    result = mixed.invoke("status", "--settings", mixed.settings_module)

    assert result.exit_code == ExitCode.FAILED, result.output  # a database is unreachable
    # tenant-1, tenant-2 and the reserved central database are at head
    assert result.stdout.splitlines() == [
        "django_orm: 3 at head, 1 pending patients.0002_seed_wards (+1 more), 1 unreachable"
    ]
    assert [db.applied() for db in mixed.databases[:3]] == before  # nothing migrated
    assert not (mixed.tmp / "missing-dir").exists()

    listed = mixed.invoke("status", "--settings", mixed.settings_module, "--tenants").stdout
    assert (
        "  1 pending patients.0002_seed_wards (+1 more):\n    tenant-3/default  next patients.0002_seed_wards (+1 more)"
        in (listed)
    )
    assert "    central (reserved)  at " in listed
    assert "  1 unreachable:\n    tenant-4/default  " in listed


def test_status_json_groups(mixed: TenantSite) -> None:
    result = mixed.invoke("status", "--settings", mixed.settings_module, "--json")

    assert result.exit_code == ExitCode.FAILED, result.output  # a database is unreachable
    (line,) = result.stdout.splitlines()
    status = json.loads(line)
    assert status["event"] == "status" and status["pending"] is True and status["unreachable"] is True
    (orm,) = status["orms"]
    assert orm["orm"] == "django_orm"
    assert orm["summary"] == "3 at head, 1 pending patients.0002_seed_wards (+1 more), 1 unreachable"
    head, pending, unreachable = orm["groups"]
    assert head["state"] == "at_head" and head["count"] == 3 and head["pending"] == []
    assert {(d["tenant"], d["alias"]) for d in head["databases"]} == {
        ("tenant-1", "default"),
        ("tenant-2", "default"),
        (None, "central"),
    }
    assert all(d["current"] and d["error"] is None for d in head["databases"])
    assert pending["state"] == "pending" and pending["count"] == 1
    assert pending["pending"] == ["patients.0002_seed_wards", "patients.0003_visit_index"]
    assert pending["databases"] == [
        {"tenant": "tenant-3", "alias": "default", "current": "patients.0001_initial", "error": None}
    ]
    assert unreachable["state"] == "unreachable" and unreachable["count"] == 1
    (down,) = unreachable["databases"]
    assert down["tenant"] == "tenant-4" and "unable to open database file" in down["error"]


def test_status_library_twin_and_selection(mixed: TenantSite) -> None:
    found = fleet_status(selection=Selection(tenants=("tenant-3", "tenant-4")))

    assert (
        found.summary("django_orm")
        == "1 at head, 1 pending patients.0002_seed_wards (+1 more), 1 unreachable"
    )
    by_label = {row.label: row.state for row in found.rows}
    assert by_label == {
        "central (reserved)": "at_head",
        "tenant-3/default": "pending",
        "tenant-4/default": "unreachable",
    }
    only = fleet_status(
        selection=Selection(exclude=("tenant-[34]",)), executor=ExecutorSpec(jobs=2)
    )  # through worker processes
    assert only.summary("django_orm") == "3 at head" and not only.pending and not only.unreachable


def test_plan_shows_each_group_and_touches_nothing(mixed: TenantSite) -> None:
    before = [db.applied() for db in mixed.databases[:3]]

    result = mixed.invoke("migrate", "--settings", mixed.settings_module, "--plan")

    assert result.exit_code == ExitCode.OK, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "django_orm: 3 at head, 1 pending patients.0002_seed_wards (+1 more), 1 unreachable"
    assert "  1 database(s) would apply: patients.0002_seed_wards, patients.0003_visit_index" in lines
    assert "    tenant-3/default" in lines
    assert "  1 unreachable: tenant-4/default" in lines
    assert [db.applied() for db in mixed.databases[:3]] == before
    plan = json.loads(mixed.invoke("migrate", "--settings", mixed.settings_module, "--plan", "--json").stdout)
    assert plan["event"] == "plan" and plan["pending"] is True
    assert [db.applied() for db in mixed.databases[:3]] == before


def test_check_exit_codes(mixed: TenantSite) -> None:
    def check(*args: str) -> Any:
        return mixed.invoke("migrate", "--settings", mixed.settings_module, "--check", *args)

    pending = check()
    assert pending.exit_code == ExitCode.PENDING == 4, pending.output
    assert pending.stdout.splitlines()[-1] == "pending: yes"
    assert check("--tenant", "tenant-3").exit_code == ExitCode.PENDING
    unreachable = check("--tenant", "tenant-4")
    assert unreachable.exit_code == ExitCode.FAILED, unreachable.output
    assert unreachable.stdout.splitlines()[-1] == "pending: no"
    current = check("--exclude", "tenant-[34]")
    assert current.exit_code == ExitCode.OK, current.output
    assert current.stdout.splitlines()[-1] == "pending: no"
    patients = [row for row in mixed.db("tenant-3").applied() if row[0] == "patients"]
    assert patients == [("patients", "0001_initial")]  # --check touched nothing


# -- --canary and --max-failures ------------------------------------------------------------------
def test_failing_canary_stops_the_run(fleet: TenantSite, tmp_path: Path) -> None:
    fleet.db("tenant-1").execute(BROKEN)

    result = migrate(fleet, tmp_path / "journal", "--canary", "1", "--jobs", "2", "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    assert statuses(result) == {
        "tenant-1": "failed",
        **{f"tenant-{i}": "not_started" for i in range(2, 6)},
    }
    assert started(result) == ["tenant-1"]
    assert report(result)["stopped"].startswith("--canary: 1 of the first 1 tenant(s) failed")
    assert not any(db.table_names() for db in fleet.databases[1:])


def test_unreachable_canary_stops_the_run(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path, 3)
    site.databases[0].entry["NAME"] = str(tmp_path / "missing-dir" / "t1.sqlite3")
    for active in activate(site):
        result = migrate(active, tmp_path / "journal", "--canary", "1", "--json")

        assert result.exit_code == ExitCode.FAILED, result.output
        assert statuses(result) == {
            "tenant-1": "failed",
            "tenant-2": "not_started",
            "tenant-3": "not_started",
        }
        assert not active.db("tenant-2").table_names()


def test_successful_canary_then_everyone(fleet: TenantSite, tmp_path: Path) -> None:
    result = migrate(fleet, tmp_path / "journal", "--canary", "2", "--jobs", "2", "--json")

    assert result.exit_code == ExitCode.OK, result.output
    assert set(statuses(result).values()) == {"migrated"}
    assert set(started(result)[:2]) == {"tenant-1", "tenant-2"}  # the canaries went first
    assert all(at_head(fleet, t.tenant) for t in fleet.databases)


def test_max_failures_starts_nothing_after_the_limit(fleet: TenantSite, tmp_path: Path) -> None:
    fleet.db("tenant-2").execute(BROKEN)
    fleet.db("tenant-4").execute(BROKEN)

    result = migrate(fleet, tmp_path / "journal", "--max-failures", "1", "--jobs", "1", "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    assert statuses(result) == {
        "tenant-1": "migrated",
        "tenant-2": "failed",
        "tenant-3": "not_started",
        "tenant-4": "not_started",
        "tenant-5": "not_started",
    }
    assert started(result) == ["tenant-1", "tenant-2"]
    assert not fleet.db("tenant-3").table_names() and not fleet.db("tenant-5").table_names()
    rows = {r["tenant"]: r for r in report(result)["results"]}
    assert "already exists" in rows["tenant-2"]["error"]
    assert rows["tenant-2"]["failed_step"] == "patients.0001_initial"


# -- the journal, `runs`, --only-failed -------------------------------------------------------------
def test_journal_records_every_database(site: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    site.db("tenant-2").execute(BROKEN)

    result = migrate(site, journal, "--jobs", "1")

    assert result.exit_code == ExitCode.FAILED, result.output
    (path,) = journal.glob("*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    header, *outcomes, footer = [line for line in lines if "event" not in line]  # "started" lines aside
    assert header["journal"] == 1 and path.name == f"{header['run']}.jsonl"
    assert header["tenants"] == ["tenant-1", "tenant-2", "tenant-3"]
    by_db = {(o["tenant"], o["alias"]): o for o in outcomes}
    assert len(by_db) == len(outcomes) == 4  # three tenants and the central database, once each
    assert by_db[(None, "central")]["status"] in ("migrated", "up_to_date")
    for tenant in ("tenant-1", "tenant-3"):
        line = by_db[(tenant, "default")]
        assert line["orm"] == "django_orm" and line["status"] == "migrated"
        assert (
            line["current"]
            == site.db(tenant).query(
                "SELECT app || '.' || name FROM django_migrations ORDER BY id DESC LIMIT 1"
            )[0][0]
        )
        assert line["applied"] == len(site.db(tenant).applied())
    failed = by_db[("tenant-2", "default")]
    assert failed["status"] == "failed" and failed["step"] == "patients.0001_initial"
    assert "already exists" in failed["error"]
    assert footer["interrupted"] is False and footer["stopped"] is None and footer["finished"]
    assert footer["counts"]["migrated"] == 2 and footer["counts"]["failed"] == 1
    assert result.stderr.splitlines()[-1] == (
        f"journal: {path} (re-run what did not finish: --only-failed {header['run']})"
    )
    record = read_run(path)
    assert record.finished and record.tenants_to_redo() == ["tenant-2"]
    assert find_run(journal, None).run_id == header["run"] == find_run(journal, header["run"][:18]).run_id


def test_no_journal_and_quiet_runs(site: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"

    quiet = migrate(site, journal, "--tenant", "tenant-1", "-q")
    none = migrate(site, journal, "--tenant", "tenant-2", "--no-journal")

    assert quiet.exit_code == none.exit_code == ExitCode.OK, quiet.output + none.output
    assert "journal:" not in quiet.stderr + none.stderr
    (path,) = journal.glob("*.jsonl")  # the quiet run wrote one; --no-journal none
    assert read_run(path).header["tenants"] == ["tenant-1"]


def test_only_failed_reruns_only_the_failed_tenant(fleet: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    broken = fleet.db("tenant-3")
    broken.execute(BROKEN)
    first = migrate(fleet, journal, "--jobs", "2", "--json")
    assert first.exit_code == ExitCode.FAILED, first.output
    done = {db.tenant: db.applied() for db in fleet.databases if db.tenant != "tenant-3"}
    broken.execute("DROP TABLE patients_patient")  # fixed

    again = migrate(fleet, journal, "--only-failed=last", "--jobs", "2", "--json")

    assert again.exit_code == ExitCode.OK, again.output
    assert started(again) == ["tenant-3"]
    assert statuses(again) == {"tenant-3": "migrated"}
    assert at_head(fleet, "tenant-3")
    assert {db.tenant: db.applied() for db in fleet.databases if db.tenant != "tenant-3"} == done
    newest = find_run(journal, None)
    assert newest.header["tenants"] == ["tenant-3"] and newest.tenants_to_redo() == []


def test_only_failed_from_python_redoes_only_what_the_journal_says(fleet: TenantSite, tmp_path: Path) -> None:
    """The library twin of --only-failed: Selection.only_failed reads the journal, no CLI in between."""
    journal = tmp_path / "journal"
    broken = fleet.db("tenant-2")
    broken.execute(BROKEN)
    first = migrate_tenants(load_config(), journal=JournalSpec(journal))
    assert [r.tenant for r in first.failures] == ["tenant-2"]
    done = {db.tenant: db.applied() for db in fleet.databases if db.tenant != "tenant-2"}
    broken.execute("DROP TABLE patients_patient")  # fixed

    events: list[Any] = []
    again = migrate_tenants(
        load_config(),
        Selection.only_failed(journal, within=Selection(orms=("django_orm",))),
        on_event=events.append,
    )

    assert again.ok and {r.tenant for r in again.rows()} == {"tenant-2", None}  # and the reserved one
    assert {e.tenant for e in events if isinstance(e, TenantStarted) and e.tenant} == {"tenant-2"}
    assert ("patients", "0003_visit_index") in fleet.db("tenant-2").applied()
    assert {db.tenant: db.applied() for db in fleet.databases if db.tenant != "tenant-2"} == done


def test_request_objects_are_checked_before_anything_is_touched(fleet: TenantSite) -> None:
    for policy, message in (
        (RunPolicy(canary=-1), "--canary must be at least 0, got -1."),
        (RunPolicy(locks=LockPolicy(retries=2)), "--lock-retries and --lock-retry-delay need --lock-wait."),
        (
            RunPolicy(locks=LockPolicy(wait=0)),
            "--lock-wait must be a finite number of seconds above 0, got 0.",
        ),
    ):
        with pytest.raises(UsageError) as raised:
            migrate_tenants(load_config(), policy=policy)
        assert raised.value.message == message
    with pytest.raises(UsageError, match="--executor must be one of processes, celery"):
        migrate_tenants(load_config(), executor=ExecutorSpec(name="threads"))
    assert not any(db.path.exists() for db in fleet.databases)  # nothing was touched


def test_only_failed_with_a_run_id(fleet: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    fleet.db("tenant-2").execute(BROKEN)
    fleet.db("tenant-5").execute(BROKEN)
    assert migrate(fleet, journal, "--json").exit_code == ExitCode.FAILED
    failed_run = find_run(journal, None).run_id
    ok = migrate(fleet, journal, "--tenant", "tenant-1", "--json")  # a later, clean run
    assert ok.exit_code == ExitCode.OK
    fleet.db("tenant-2").execute("DROP TABLE patients_patient")

    # a bare --only-failed reads the latest outcome of each database (tests/test_i20_report.py); a run id,
    # exactly that run's
    again = migrate(fleet, journal, "--only-failed", failed_run, "--jobs", "1", "--json")

    assert again.exit_code == ExitCode.FAILED, again.output
    assert started(again) == ["tenant-2", "tenant-5"]
    assert statuses(again) == {"tenant-2": "migrated", "tenant-5": "failed"}
    unknown = migrate(fleet, journal, "--only-failed", "19990101T000000Z-dead")
    assert unknown.exit_code == ExitCode.USAGE
    assert "has no record of run '19990101T000000Z-dead'" in unknown.stderr


def test_runs_lists_the_journal_newest_first(site: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    site.db("tenant-1").execute(BROKEN)
    first = migrate(site, journal, "--json")
    (first_path,) = journal.glob("*.jsonl")
    second = migrate(site, journal, "--tenant", "tenant-2", "--json")
    assert (first.exit_code, second.exit_code) == (ExitCode.FAILED, ExitCode.OK)
    (second_path,) = set(journal.glob("*.jsonl")) - {first_path}
    ids = [first_path.stem, second_path.stem]  # both may start within one second

    result = site.invoke("runs", "--settings", site.settings_module, "--journal", str(journal), "--json")

    assert result.exit_code == ExitCode.OK, result.output
    listing = json.loads(result.stdout)
    assert listing["event"] == "runs" and listing["journal"] == str(journal)
    newest, oldest = listing["runs"]
    assert [newest["run"], oldest["run"]] == ids[::-1] == [r.run_id for r in runs(journal)]
    assert oldest["counts"] == {"failed": 1, "migrated": 2, "up_to_date": 1}
    assert oldest["to_redo"] == 1 and oldest["interrupted"] is False and oldest["finished"]
    assert newest["counts"] == {"up_to_date": 2} and newest["to_redo"] == 0
    limited = site.invoke(
        "runs", "--settings", site.settings_module, "--journal", str(journal), "--limit", "1"
    )
    (line,) = limited.stdout.splitlines()
    assert line.startswith(newest["run"])
    plain = site.invoke("runs", "--settings", site.settings_module, "--journal", str(journal)).stdout
    assert f"{oldest['run']}  " in plain and "--only-failed would redo 1 tenant(s)" in plain


def test_runs_started_within_one_second_are_listed_newest_first(tmp_path: Path) -> None:
    """Run ids sort by the second only; their random suffix must not decide which run is the last."""
    for i in range(8):
        Journal(tmp_path, header_for([f"t{i}"])).close(MigrationReport())

    assert [run.header["tenants"] for run in runs(tmp_path)] == [[f"t{i}"] for i in reversed(range(8))]
    assert find_run(tmp_path, None).header["tenants"] == ["t7"]


def test_bare_only_failed_through_the_console_script(tmp_path: Path) -> None:
    example = clinic_copy(tmp_path)
    write_django_tenants(example, {f"t{i}": {"NAME": f"var/t{i}.sqlite3"} for i in range(1, 4)})
    journal = tmp_path / "journal"
    import sqlite3

    with sqlite3.connect(example / "var" / "t2.sqlite3") as conn:
        conn.execute(BROKEN)
    first = run(migrate_args(example, journal), cwd=example)
    assert first.returncode == ExitCode.FAILED, first.stderr
    (path,) = journal.glob("*.jsonl")
    assert f"--only-failed {path.stem}" in first.stderr
    with sqlite3.connect(example / "var" / "t2.sqlite3") as conn:
        conn.execute("DROP TABLE patients_patient")

    again = run(migrate_args(example, journal, "--only-failed", "--json"), cwd=example)

    assert again.returncode == ExitCode.OK, again.stderr
    assert [e["tenant"] for e in events(again.stdout) if e["event"] == "tenant_started" and e["tenant"]] == [
        "t2"
    ]
    assert {r["tenant"]: r["status"] for r in report_of(again.stdout)["results"] if r["tenant"]} == {
        "t2": "migrated"
    }
    listing = run(
        [EXE, "runs", "--settings", "clinic.settings", "--pythonpath",
         str(example), "--journal", str(journal), "--json"],
        cwd=example,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    newest, oldest = json.loads(listing.stdout)["runs"]
    assert oldest["run"] == path.stem and oldest["to_redo"] == 1
    assert newest["to_redo"] == 0 and "--only-failed" in newest["argv"]
