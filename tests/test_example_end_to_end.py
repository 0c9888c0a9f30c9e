"""The example project through real processes: the seed's one-liner and the installed console script."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import EXAMPLE
from support.processes import EXE, clean_environment, run

TENANTS = ["tenant-1", "tenant-2", "tenant-3"]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A fresh copy of examples/clinic with no database in it."""
    target = tmp_path / "clinic"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("*.sqlite3", "__pycache__"))
    return target


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_seed_one_liner_from_manage_py_shell(example: Path) -> None:
    result = run(
        [sys.executable, "manage.py", "shell", "-c",
         "from tenant_router.utils import migrate_to_all; migrate_to_all()"],
        cwd=example,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    for tenant in TENANTS:
        assert "patients_patient" in tables(example / "var" / f"{tenant}.sqlite3")
    assert "directory_clinic" in tables(example / "var" / "central.sqlite3")
    assert not (example / "var" / "template.sqlite3").exists()
    assert "Summary:" in result.stdout


def test_seed_one_liner_raises_when_a_tenant_fails(example: Path) -> None:
    config = json.loads((example / "tenant_config.json").read_text())
    config["tenant_config"]["tenant-2"]["clinic"]["orm_config"]["django_orm"]["default"]["NAME"] = (
        "nowhere/x.sqlite3"
    )
    (example / "tenant_config.json").write_text(json.dumps(config))

    result = run(
        [sys.executable, "manage.py", "shell", "-c",
         "from tenant_router.utils import migrate_to_all; migrate_to_all()"],
        cwd=example,
    )  # fmt: skip

    assert result.returncode != 0
    assert "TenantMigrationError" in result.stderr and "tenant-2/default" in result.stderr
    assert "patients_patient" in tables(example / "var" / "tenant-3.sqlite3")


def test_console_script_off_a_terminal(example: Path) -> None:
    exe = EXE
    result = run(
        [exe, "migrate", "--settings", "clinic.settings", "--pythonpath", str(example)], cwd=example.parent
    )

    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr
    assert "[1/" in result.stdout and "Summary:" in result.stdout
    again = run(
        [exe, "migrate", "--settings", "clinic.settings", "--pythonpath", str(example), "--json"],
        cwd=example.parent,
    )
    report = json.loads(again.stdout.splitlines()[-1])
    assert report["ok"] and report["counts"]["migrated"] == 0 and report["counts"]["up_to_date"] >= 4


def test_settings_that_do_not_import_exit_3(example: Path) -> None:
    result = run(
        [sys.executable, "-m", "tenant_router_cli", "migrate", "--settings", "nope.settings"], cwd=example
    )

    assert result.returncode == 3
    assert result.stderr.startswith("error: Settings module 'nope.settings' cannot be imported")
    assert "Traceback" not in result.stderr


def test_list_backends_off_a_terminal(example: Path) -> None:
    result = run(
        [
            sys.executable,
            "-m",
            "tenant_router_cli",
            "list-backends",
            "--settings",
            "clinic.settings",
            "--json",
        ],
        cwd=example,
    )

    assert result.returncode == 0, result.stderr
    backends = json.loads(result.stdout)["backends"]
    django = next(b for b in backends if b["orm"] == "django_orm")
    assert django["tenants"] == 3 and django["reserved_aliases"] == ["central"]
    assert django["template_aliases"] == ["default"] and django["manager_imports"]


def test_help_documents_exit_codes(example: Path) -> None:
    result = run([sys.executable, "-m", "tenant_router_cli", "migrate", "--help"], cwd=example)

    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "3 configuration error" in text and "130 interrupted" in text


def test_sigint_exits_130_and_reports_what_finished(example: Path) -> None:
    import signal

    tenants = {
        f"t{i:02d}": {
            "clinic": {"orm_config": {"django_orm": {"default": {"NAME": f"var/t{i:02d}.sqlite3"}}}}
        }
        for i in range(60)
    }
    (example / "tenant_config.json").write_text(json.dumps({"tenant_config": tenants}))
    env = clean_environment()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenant_router_cli", "migrate", "--settings", "clinic.settings",
         "--orm", "django_orm", "--json"],
        cwd=example, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if '"tenant":"t03"' in line and "tenant_finished" in line:
            proc.send_signal(signal.SIGINT)
            break
    lines += proc.stdout.readlines()
    assert proc.wait(timeout=60) == 130
    report = json.loads(lines[-1])
    assert report["interrupted"] is True and report["ok"] is False
    statuses = {r["tenant"]: r["status"] for r in report["results"] if r["tenant"]}
    assert statuses["t00"] == "migrated" and statuses["t59"] == "not_started"
    finished = [t for t, s in statuses.items() if s == "migrated"]
    for tenant in finished:  # what the report calls migrated really is
        assert ("patients_patient",) in sqlite3.connect(example / "var" / f"{tenant}.sqlite3").execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        ).fetchall()
