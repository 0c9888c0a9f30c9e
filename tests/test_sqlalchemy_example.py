"""The clinic example's quick start migrates both ORMs of every tenant in one run."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from support.paths import ROOT
from support.processes import run
from support.sqlalchemy_sites import query, version

EXAMPLE = ROOT / "examples" / "clinic"
HEAD = "c81f5a0e4b44"


def copy_example(tmp_path: Path) -> Path:
    target = tmp_path / "clinic"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("*.sqlite3", "__pycache__"))
    return target


def test_quick_start_migrates_both_orms(tmp_path: Path) -> None:
    example = copy_example(tmp_path)
    cli = [sys.executable, "-m", "tenant_router_cli", "migrate", "--settings", "clinic.settings"]

    first = run([*cli, "--pythonpath", str(example)], tmp_path)
    second = run([*cli, "--pythonpath", str(example)], tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "Migrating 7 database(s) of django_orm, sqlalchemy_orm" in first.stdout
    assert "sqlalchemy_orm: 3 migrated" in first.stdout
    for tenant in ("tenant-1", "tenant-2", "tenant-3"):
        url = f"sqlite:///{example / 'var' / f'{tenant}-sa.sqlite3'}"
        assert version(url) == [HEAD]
        assert query(url, "SELECT count(*) FROM tariff") == [(3,)]  # the data migration
    assert not (example / "var" / "template-sa.sqlite3").exists()
    assert second.returncode == 0, second.stderr
    assert "sqlalchemy_orm: 3 up to date" in second.stdout


def test_seed_one_liner_migrates_both_orms(tmp_path: Path) -> None:
    example = copy_example(tmp_path)

    result = run(
        [sys.executable, "manage.py", "shell", "-c",
         "from tenant_router.utils import migrate_to_all; migrate_to_all()"],
        example,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "sqlalchemy_orm: 3 migrated" in result.stdout
    assert version(f"sqlite:///{example / 'var' / 'tenant-2-sa.sqlite3'}") == [HEAD]
