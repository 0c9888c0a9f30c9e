"""`tenant-router migrate` in-process (CliRunner) on SQLite tenants: what a user sees and what lands."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connections
from support.sites import TenantSite

from tenant_router_cli.exit_codes import ExitCode

ANSI = re.compile(r"\x1b\[")
PATIENT_TABLES = {"patients_patient", "patients_visit", "patients_ward"}


def migrate(site: TenantSite, *args: str):  # type: ignore[no-untyped-def]
    return site.invoke("migrate", "--settings", site.settings_module, *args)


def test_every_tenant_reaches_the_latest_migration(site: TenantSite) -> None:
    result = migrate(site)

    assert result.exit_code == ExitCode.OK, result.output
    for db in site.databases:
        assert db.table_names() >= PATIENT_TABLES
        assert "directory_clinic" not in db.table_names()  # MIGRATE_STRATEGY keeps it central
        assert ("patients", "0003_visit_index") in db.applied()
        assert sorted(r[0] for r in db.query("SELECT name FROM patients_ward")) == [
            "Cardiology", "General", "Paediatrics",
        ]  # fmt: skip
    assert "[4/4] django_orm tenant-3/default: migrated" in result.stdout
    assert "Summary: 4 database(s)" in result.stdout
    assert "central (reserved)" in result.stdout
    assert not ANSI.search(result.stdout + result.stderr)


def test_template_database_is_never_created(site: TenantSite) -> None:
    from django.conf import settings

    template = settings.DATABASES["default"]["NAME"]
    migrate(site)

    import os

    assert not os.path.exists(template)


def test_second_run_is_up_to_date_and_changes_nothing(site: TenantSite) -> None:
    migrate(site)
    before = [(db.applied(), db.query("SELECT id, name FROM patients_ward")) for db in site.databases]

    result = migrate(site)

    assert result.exit_code == ExitCode.OK
    assert result.stdout.count("up to date") >= 3
    assert "migrated" not in result.stdout.replace("django_orm: 4 up to date", "")
    assert before == [(db.applied(), db.query("SELECT id, name FROM patients_ward")) for db in site.databases]


def test_failures_are_isolated_and_named(site: TenantSite) -> None:
    site.databases[1].entry["NAME"] = str(site.tmp / "no-such-dir" / "t2.sqlite3")  # unreachable
    broken = site.databases[2]
    broken.execute("CREATE TABLE patients_visit (id integer)")  # 0001_initial will collide

    result = migrate(site)

    assert result.exit_code == ExitCode.FAILED, result.output
    assert site.databases[0].table_names() >= PATIENT_TABLES
    out = result.stdout
    assert "tenant-2/default: FAILED" in out and "unable to open database file" in out
    assert "tenant-3/default: FAILED at patients.0001_initial" in out
    assert "already exists" in out
    assert "Failed (2):" in out
    # SQLite DDL is transactional: the failed migration left nothing half-made behind.
    assert ("patients", "0001_initial") not in broken.applied()
    assert ("auth", "0012_alter_user_first_name_max_length") in broken.applied()
    assert "patients_patient" not in broken.table_names()


def test_fail_fast_reports_the_rest_as_not_started(site: TenantSite) -> None:
    site.databases[0].entry["NAME"] = str(site.tmp / "no-such-dir" / "t1.sqlite3")

    result = migrate(site, "--fail-fast", "--json")

    assert result.exit_code == ExitCode.FAILED
    report = json.loads(result.stdout.splitlines()[-1])
    statuses = {r["tenant"]: r["status"] for r in report["results"] if r["tenant"]}
    assert statuses == {"tenant-1": "failed", "tenant-2": "not_started", "tenant-3": "not_started"}
    assert not site.databases[1].table_names() and not site.databases[2].table_names()


def test_json_lines_parse_and_end_with_the_report(site: TenantSite) -> None:
    result = migrate(site, "--json")

    assert result.exit_code == ExitCode.OK
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert objects[0] == {"event": "run_started", "planned": 4, "orms": ["django_orm"]}
    assert {o["event"] for o in objects} >= {
        "tenant_started",
        "tenant_planned",
        "step_applied",
        "tenant_finished",
    }
    report = objects[-1]
    assert report["event"] == "report" and report["ok"] is True
    row = next(r for r in report["results"] if r["tenant"] == "tenant-1")
    assert row["status"] == "migrated" and row["alias"] == "default"
    assert row["applied_count"] == len(row["applied"]) == row["pending"] > 0
    assert row["current"] == "patients.0003_visit_index" and row["error"] is None
    assert not ANSI.search(result.stdout)


def test_selection_of_tenants(site: TenantSite) -> None:
    result = migrate(site, "--tenant", "tenant-2", "--tenant", "tenant-3", "--exclude", "tenant-3")

    assert result.exit_code == ExitCode.OK
    assert [bool(db.table_names()) for db in site.databases] == [False, True, False]


def test_unknown_orm_is_a_usage_error_and_touches_nothing(site: TenantSite) -> None:
    result = migrate(site, "--orm", "nope")

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "Unknown ORM 'nope'" in result.stderr
    assert result.stdout == ""
    assert not any(db.table_names() for db in site.databases)


def test_unknown_tenant_is_a_usage_error(site: TenantSite) -> None:
    result = migrate(site, "--tenant", "tenant-9")

    assert result.exit_code == ExitCode.USAGE
    assert "Unknown tenant 'tenant-9'" in result.stderr


def test_quiet_prints_only_failures_and_summary(site: TenantSite) -> None:
    result = migrate(site, "-q")

    assert result.exit_code == ExitCode.OK
    assert "started" not in result.stdout and "Summary:" in result.stdout


def test_verbose_prints_every_migration(site: TenantSite) -> None:
    result = migrate(site, "-v", "--tenant", "tenant-1")

    assert "applied patients.0002_seed_wards" in result.stdout


def test_connections_are_released_after_the_run(site: TenantSite) -> None:
    migrate(site)

    assert not [a for a in connections.settings if a.startswith("tenant_router:")]


def test_missing_settings_is_a_usage_error(site: TenantSite, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    result = site.invoke("migrate")

    assert result.exit_code == ExitCode.USAGE
    assert "No Django settings module" in result.stderr


@pytest.mark.parametrize(
    ("options", "line"),
    [
        (["--executor", "nope"], "error: --executor must be one of processes, celery, got 'nope'."),
        (["--queue", "q"], "error: --queue applies to --executor celery."),
        (["--executor", "celery"], "error: --executor celery needs the project's Celery app."),
        (
            ["--executor", "celery", "--celery-app", "no_such_module:app"],
            "error: --celery-app 'no_such_module:app': cannot import no_such_module",
        ),
    ],
)
def test_executor_options_are_checked_before_anything_is_touched(
    site: TenantSite, options: list[str], line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENANT_ROUTER_CELERY_APP", raising=False)
    result = migrate(site, *options)

    assert result.exit_code in (ExitCode.USAGE, ExitCode.CONFIG), result.output
    assert line in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(db.table_names() for db in site.databases)
