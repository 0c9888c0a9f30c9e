"""Issue 11 items 19 and 21: the library from a plain script, and `manage.py tenant_router ...`.

Real processes on a copy of the clinic example (its own Django, its own SQLite files).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import ROOT
from support.processes import clean_environment, run

from tenant_router_cli.exit_codes import ExitCode

TENANTS = ["tenant-1", "tenant-2", "tenant-3"]


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    """A fresh copy of examples/clinic (no databases, no journal)."""
    demo = tmp_path / "clinic"
    ignore = shutil.ignore_patterns("*.sqlite3", "*.lock", ".tenant-router", "__pycache__")
    shutil.copytree(ROOT / "examples" / "clinic", demo, ignore=ignore)
    return demo


def django_tables(clinic: Path, tenant: str) -> set[str]:
    path = clinic / "var" / f"{tenant}.sqlite3"
    if not path.exists():
        return set()
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# -- item 19: migrate_tenants() from a plain script ------------------------------------------------------

SCRIPT = """\
import json, sys
sys.path.insert(0, {folder!r})
from tenant_router import ConfigurationError, migrate_tenants
try:
    report = migrate_tenants()  # in this process (the library's default)
except ConfigurationError as exc:
    print(json.dumps({{"error": exc.message, "hint": exc.hint}}))
    sys.exit(3)
print(json.dumps(report.to_dict()))
"""


def test_plain_script_sets_django_up_from_the_environment(clinic: Path) -> None:
    script = clinic / "deploy.py"
    script.write_text(SCRIPT.format(folder=str(clinic)))

    result = run(
        [sys.executable, str(script)], clinic, env=clean_environment(DJANGO_SETTINGS_MODULE="clinic.settings")
    )

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert "AppRegistryNotReady" not in result.stdout + result.stderr
    assert report["ok"] and report["counts"]["migrated"] == 7, report["counts"]
    assert all("patients_patient" in django_tables(clinic, t) for t in TENANTS)


def test_plain_script_without_settings_gets_one_clear_error(clinic: Path) -> None:
    script = clinic / "deploy.py"
    script.write_text(SCRIPT.format(folder=str(clinic)))

    result = run([sys.executable, str(script)], clinic)

    assert result.returncode == 3, result.stdout + result.stderr
    error = json.loads(result.stdout.splitlines()[-1])
    assert "DJANGO_SETTINGS_MODULE" in error["error"] and "django.setup()" in error["hint"]
    assert not (clinic / "var" / "tenant-1.sqlite3").exists()


# -- item 21: manage.py tenant_router ... ---------------------------------------------------------------


def manage(clinic: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "manage.py", "tenant_router", *args], clinic)


def test_manage_py_migrate_status_and_exit_codes(clinic: Path) -> None:
    pending = manage(clinic, "migrate", "--check")
    migrated = manage(clinic, "migrate", "--jobs", "1", "--json")
    status = manage(clinic, "status", "--tenants")
    runs = manage(clinic, "runs", "--json")
    backends = manage(clinic, "list-backends")
    unknown = manage(clinic, "migrate", "--orm", "nope")

    assert pending.returncode == ExitCode.PENDING, pending.stderr
    assert migrated.returncode == ExitCode.OK, migrated.stderr
    report = json.loads(migrated.stdout.splitlines()[-1])
    assert report["ok"] and report["counts"]["migrated"] == 7
    assert all("patients_patient" in django_tables(clinic, t) for t in TENANTS)
    assert status.returncode == ExitCode.OK and "django_orm: 4 at head" in status.stdout
    assert runs.returncode == ExitCode.OK and json.loads(runs.stdout)["runs"][0]["run"] == report["run"]
    assert backends.returncode == ExitCode.OK and "sqlalchemy_orm:" in backends.stdout
    assert unknown.returncode == ExitCode.USAGE and "Unknown ORM 'nope'" in unknown.stderr


def test_manage_py_help_and_settings_option(clinic: Path) -> None:
    helped = manage(clinic, "--help")
    migrate_help = manage(clinic, "migrate", "--help")
    django_help = run([sys.executable, "manage.py", "help", "tenant_router"], clinic)
    with_settings = manage(clinic, "--settings", "clinic.settings", "status")

    assert helped.returncode == 0 and "migrate" in helped.stdout and "list-backends" in helped.stdout
    assert "manage.py tenant_router" in helped.stdout
    assert migrate_help.returncode == 0 and "--only-failed" in migrate_help.stdout
    assert django_help.returncode == 0 and "migrate" in django_help.stdout
    assert with_settings.returncode == ExitCode.OK, with_settings.stderr
    assert "django_orm: 4 pending" in with_settings.stdout


def test_call_command_raises_with_the_exit_code(clinic: Path) -> None:
    script = clinic / "call.py"
    script.write_text(
        "import django, sys\n"
        "django.setup()\n"
        "from django.core.management import call_command, CommandError\n"
        "call_command('tenant_router', 'migrate', '--jobs', '1', '--no-progress')\n"
        "try:\n"
        "    call_command('tenant_router', 'migrate', '--orm', 'nope')\n"
        "except CommandError as exc:\n"
        "    print('returncode', exc.returncode)\n"
    )
    result = run(
        [sys.executable, str(script)], clinic, env=clean_environment(DJANGO_SETTINGS_MODULE="clinic.settings")
    )

    assert result.returncode == 0, result.stderr
    assert "returncode 2" in result.stdout
    assert all("patients_patient" in django_tables(clinic, t) for t in TENANTS)
