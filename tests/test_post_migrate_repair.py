"""A post_migrate that failed is emitted again by the next run, even from another machine (item 3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support.clinic import clinic_copy, migrate_args
from support.processes import events, report_of, run

from tenant_router_cli.exit_codes import ExitCode

APP = '''
import os

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def fail_once(sender, using, **kwargs):
    """Raises once for the database named in TR_FLAKY_DB (a marker file remembers it did)."""
    name = os.path.basename(str(connections[using].settings_dict["NAME"]))
    marker = os.environ.get("TR_FLAKY_MARKER")
    if marker and name == os.environ.get("TR_FLAKY_DB") and not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("flaky post_migrate handler")


class FlakyConfig(AppConfig):
    name = "flaky"

    def ready(self):
        post_migrate.connect(fail_once)  # before contenttypes' and auth's handlers (listed first)
'''
MODELS = """
from django.db import models


class Thing(models.Model):
    name = models.CharField(max_length=20)
"""
MIGRATION = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            "Thing",
            [("id", models.BigAutoField(primary_key=True)), ("name", models.CharField(max_length=20))],
        )
    ]
"""


def content(path: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(content types, permissions) of one SQLite database."""
    with sqlite3.connect(path) as conn:
        types = {tuple(r) for r in conn.execute("SELECT app_label, model FROM django_content_type")}
        perms = {
            tuple(r)
            for r in conn.execute(
                "SELECT ct.app_label, p.codename FROM auth_permission p "
                "JOIN django_content_type ct ON ct.id = p.content_type_id"
            )
        }
    return types, perms


def test_a_failed_post_migrate_is_repaired_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = clinic_copy(tmp_path)
    app = example / "flaky"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "apps.py").write_text(APP)
    (app / "models.py").write_text(MODELS)
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(MIGRATION)
    settings = example / "clinic" / "settings.py"
    settings.write_text(
        settings.read_text().replace("INSTALLED_APPS = [\n", 'INSTALLED_APPS = [\n    "flaky",\n')
    )
    monkeypatch.setenv("TR_FLAKY_MARKER", str(tmp_path / "failed-once"))
    monkeypatch.setenv("TR_FLAKY_DB", "tenant-1.sqlite3")
    var = example / "var"

    def journal(n: int) -> Path:  # a journal of its own per run: as if each ran on another machine
        return tmp_path / f"journal-{n}"

    first = run(migrate_args(example, journal(1), "--json"), cwd=example)
    assert first.returncode == ExitCode.FAILED, first.stderr
    rows = {r["tenant"]: r for r in report_of(first.stdout)["results"] if r["tenant"]}
    assert rows["tenant-1"]["status"] == "failed" and "flaky post_migrate" in rows["tenant-1"]["error"]
    assert rows["tenant-2"]["status"] == "migrated"
    expected = content(var / "tenant-2.sqlite3")
    assert ("flaky", "thing") in expected[0] and ("flaky", "add_thing") in expected[1]
    assert content(var / "tenant-1.sqlite3") == (set(), set())  # migrations committed, signal failed

    status = run([*migrate_args(example, journal(2), "--check")], cwd=example)
    assert status.returncode == ExitCode.PENDING, status.stdout + status.stderr  # not "nothing pending"

    second = run(migrate_args(example, journal(2), "--json"), cwd=example)
    assert second.returncode == ExitCode.OK, second.stderr
    rows = {r["tenant"]: r for r in report_of(second.stdout)["results"] if r["tenant"]}
    assert rows["tenant-1"]["status"] == "migrated", rows["tenant-1"]
    assert rows["tenant-1"]["applied"] == ["post_migrate (repair)"]
    assert rows["tenant-1"]["current"] == rows["tenant-2"]["current"]  # still at its last migration
    assert rows["tenant-2"]["status"] == rows["tenant-3"]["status"] == "up_to_date"
    assert content(var / "tenant-1.sqlite3") == expected
    assert any(e.get("step") == "post_migrate (repair)" for e in events(second.stdout))

    third = run(migrate_args(example, journal(3), "--json"), cwd=example)
    assert third.returncode == ExitCode.OK, third.stderr
    assert {r["status"] for r in report_of(third.stdout)["results"]} == {"up_to_date"}  # repaired for good
