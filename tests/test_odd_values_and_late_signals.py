"""Odd values and late signals (issue 11, item 13, this branch's part): --lock-timeout, a late SIGTERM,
SQLite `file:` URI names."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from support.paths import ROOT
from support.processes import report_of, run
from support.sites import TenantSite

from tenant_router_cli.exit_codes import ExitCode


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1e400"])
def test_lock_timeout_must_be_a_finite_number(site: TenantSite, value: str) -> None:
    result = site.invoke(
        "migrate", "--settings", site.settings_module, f"--lock-timeout={value}", "--no-journal"
    )

    assert result.exit_code == ExitCode.USAGE == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert "--lock-timeout" in lines[0] and "finite" in lines[0], result.stderr
    assert not any(db.table_names() for db in site.databases)  # nothing was touched


def test_a_signal_after_the_graceful_stop_still_exits_130(tmp_path: Path) -> None:
    """First SIGTERM: the run stops gracefully; a second one while it reports must not make it 143."""
    script = textwrap.dedent(
        """
        import os, signal, sys
        from tenant_router.safety import cancel
        from tenant_router_cli.output import make_output
        from tenant_router_cli.signals import graceful_interrupts

        cancel.reset()
        with graceful_interrupts(make_output(progress=False)):
            os.kill(os.getpid(), signal.SIGTERM)  # the graceful stop
        os.kill(os.getpid(), signal.SIGTERM)  # the run has stopped; it is printing its report
        print("reported")
        sys.exit(130)
        """
    )
    done = run([sys.executable, "-c", script], ROOT, timeout=60)

    assert done.returncode == ExitCode.INTERRUPTED == 130, (done.returncode, done.stderr)
    assert "SIGTERM: stopping" in done.stderr


def test_sqlite_file_uri_names_are_read_and_migrated(site: TenantSite, tmp_path: Path) -> None:
    path = tmp_path / "uri-tenant.sqlite3"
    db = site.db("tenant-1")
    db.entry.update({"NAME": f"file:{path}?mode=rwc", "OPTIONS": {"uri": True}})
    db.path = path

    status = site.invoke("status", "--settings", site.settings_module, "--json")
    assert status.exit_code == ExitCode.OK, status.output
    assert "unreachable" not in status.stdout.split('"summary"', 1)[1].split("\n")[0], status.stdout
    first = site.invoke("migrate", "--settings", site.settings_module, "--no-journal", "--json")
    second = site.invoke("migrate", "--settings", site.settings_module, "--no-journal", "--json")

    assert first.exit_code == ExitCode.OK, first.output
    rows = {r["tenant"]: r["status"] for r in report_of(first.stdout)["results"] if r["tenant"]}
    assert rows["tenant-1"] == "migrated"
    assert ("patients", "0003_visit_index") in db.applied()
    assert second.exit_code == ExitCode.OK, second.output
    again = {r["tenant"]: r["status"] for r in report_of(second.stdout)["results"] if r["tenant"]}
    assert again["tenant-1"] == "up_to_date"
