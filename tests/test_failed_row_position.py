"""After a failure the row says where the database really is, re-read over a fresh connection (item 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.processes import report_of as ops_report_of
from support.sites import TenantSite
from support.sqlalchemy_sites import STYLES, database_urls, execute, make_site, report_of, rows, version

from tenant_router_cli.exit_codes import ExitCode


@pytest.mark.parametrize("style", STYLES)
def test_a_whole_upgrade_rolled_back_in_one_transaction_reports_base(tmp_path: Path, style: str) -> None:
    """Both env.py styles run every revision in one transaction: c3 fails, a1 and b2 are rolled back."""
    with database_urls("postgres", tmp_path, 2) as urls:
        execute(urls[1], "CREATE TABLE ledger_reference_key (id integer)")  # c3's constraint name is taken
        site = make_site(
            tmp_path / "site", {"tenant-1": urls[0], "tenant-2": urls[1]}, style=style, django=False
        )

        result, lines = site.run_json("migrate")

        assert result.returncode == 1, result.stderr
        failed = rows(report_of(lines), "sqlalchemy_orm")["tenant-2"]
        assert failed["status"] == "failed" and failed["failed_step"] == "c3000000003c", failed
        assert version(urls[1]) == []  # nothing of a1/b2 survived the rollback
        assert failed["current"] == "base", failed  # and the row says so, not b2000000002b
        event = next(e for e in lines if e["event"] == "tenant_failed")
        assert event["current"] == "base"
        assert rows(report_of(lines), "sqlalchemy_orm")["tenant-1"]["current"] == "c3000000003c"


def test_a_failed_django_database_reports_what_django_migrations_says(site: TenantSite) -> None:
    """Django runs each migration in its own transaction (SQLite, PostgreSQL): the re-read agrees with
    the recorded rows of the failing migration's app. (It pins the Django side of the re-read.)"""
    site.db("tenant-2").execute("CREATE TABLE patients_ward (id integer)")  # patients.0001 collides

    result = site.invoke("migrate", "--settings", site.settings_module, "--no-journal", "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    row = next(r for r in ops_report_of(result.stdout)["results"] if r["tenant"] == "tenant-2")
    assert row["status"] == "failed" and row["failed_step"] == "patients.0001_initial", row
    # where the failing migration's app stands (issue 20 item 11), not the last row of any app
    last = site.db("tenant-2").query("SELECT name FROM django_migrations WHERE app = 'patients'")
    assert not last and row["current"] == "patients zero", row
    assert ("patients", "0001_initial") not in site.db("tenant-2").applied()
