"""Issue 11 item 20: papercuts of the command line (run id in JSON, status exit code, option clashes,
hints, authentication failures, make clean-demo, --help, --version)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test.utils import override_settings
from support import processes
from support.paths import ROOT
from support.servers import MYSQL, POSTGRES, require
from support.sites import TenantSite, server_site
from typer.testing import CliRunner

from tenant_router_cli.app import app
from tenant_router_cli.exit_codes import ExitCode


def test_json_report_names_run_and_journal(site: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    result = site.invoke("migrate", "--settings", site.settings_module, "--json", "--journal", str(journal))

    report = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == ExitCode.OK, result.output
    assert report["event"] == "report"
    assert Path(report["journal"]).parent == journal and Path(report["journal"]).exists()
    assert Path(report["journal"]).name == f"{report['run']}.jsonl"

    no_journal = site.invoke("migrate", "--settings", site.settings_module, "--json", "--no-journal")
    last = json.loads(no_journal.stdout.splitlines()[-1])
    assert last["run"] is None and last["journal"] is None


def test_status_exits_1_when_a_database_is_unreachable(site: TenantSite) -> None:
    ok = site.invoke("status", "--settings", site.settings_module)
    site.databases[1].entry["NAME"] = str(site.tmp / "no-such-dir" / "t2.sqlite3")
    bad = site.invoke("status", "--settings", site.settings_module, "--tenants")

    assert ok.exit_code == ExitCode.OK, ok.output
    assert bad.exit_code == ExitCode.FAILED, bad.output
    assert "1 unreachable" in bad.stdout and "tenant-2/default" in bad.stdout
    help_text = " ".join(CliRunner().invoke(app, ["status", "--help"]).stdout.split())
    assert "1 when a database is unreachable" in help_text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--plan", "--check"], "--plan and --check"),
        (["-q", "-v"], "--quiet and --verbose"),
        (["--quiet", "-vv"], "--quiet and --verbose"),
    ],
)
def test_clashing_options_are_usage_errors(site: TenantSite, args: list[str], says: str) -> None:
    result = site.invoke("migrate", "--settings", site.settings_module, *args)

    assert result.exit_code == ExitCode.USAGE, result.output
    assert says in result.stderr
    assert not any(db.table_names() for db in site.databases)


def test_no_settings_hint_is_generic() -> None:
    env = {"DJANGO_SETTINGS_MODULE": ""}
    result = CliRunner().invoke(app, ["status"], env=env)

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "example" not in result.stderr and "clinic" not in result.stderr
    assert "--settings yourproject.settings" in result.stderr


def test_help_shows_no_double_brackets_or_verbose_default() -> None:
    text = CliRunner().invoke(app, ["migrate", "--help"], env={"COLUMNS": "200"}).stdout

    assert "[[MIGRATION]]" not in text and "[MIGRATION]" in text
    verbose = next(line for line in text.splitlines() if "--verbose" in line)
    assert "default" not in verbose


def test_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])

    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.strip() == f"tenant-router {version('tenant-router')}"


def test_make_clean_demo_removes_databases_locks_and_journal(tmp_path: Path) -> None:
    demo = tmp_path / "clinic"
    shutil.copytree(
        ROOT / "examples" / "clinic",
        demo,
        ignore=shutil.ignore_patterns("*.sqlite3", "*.lock", ".tenant-router"),
    )
    command = [sys.executable, "-m", "tenant_router_cli", "migrate", "--settings", "clinic.settings"]
    command += ["--pythonpath", str(demo), "--jobs", "1", "--lock-timeout", "1"]
    run = processes.run(command, demo)
    assert run.returncode == ExitCode.OK, run.stdout + run.stderr
    made = {p.relative_to(demo) for p in demo.rglob("*") if p.is_file()}
    assert any(p.suffix == ".sqlite3" for p in made) and any(p.suffix == ".jsonl" for p in made)
    (demo / "var" / "tenant_1.sqlite3.tenant-router.lock").touch()  # as a killed run leaves one

    clean = subprocess.run(
        ["make", "-s", "clean-demo", f"DEMO_DIR={demo}"], cwd=ROOT, capture_output=True, text=True
    )

    assert clean.returncode == 0, clean.stderr
    left = {p.relative_to(demo) for p in demo.rglob("*") if p.is_file()}
    assert not [p for p in left if p.suffix in (".sqlite3", ".lock", ".jsonl")], left


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_authentication_failure_is_labelled_as_such(tmp_path: Path, kind: str) -> None:
    server = require(POSTGRES if kind == "postgres" else MYSQL)
    site = server_site(tmp_path, server, ["trauth_nosuch"])
    entry = site.databases[0].entry
    if kind == "postgres":
        entry["USER"] = "no_such_role_tr"  # trust authentication: an unknown role is refused (28000)
    else:
        entry["PASSWORD"] = "wrong-password-tr"  # 1045 Access denied
    path = site.write()
    with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(path)):
        migrate = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1")
        status = site.invoke("status", "--settings", site.settings_module, "--tenants")

    assert migrate.exit_code == ExitCode.FAILED, migrate.output
    line = next(line for line in migrate.stdout.splitlines() if "tenant-1/default: FAILED" in line)
    assert "authentication failed" in line and "unreachable" not in line
    assert status.exit_code == ExitCode.FAILED
    assert "authentication failed" in status.stdout
    assert "wrong-password-tr" not in migrate.output + status.output
