"""SQLite tenants made by `create` are copies of a template file in their folder (SQLite's backup API),
verified, equal to a migrated file row for row, and a new migration makes a new template (the old one stale,
dropped by `templates --prune`). Real processes on copies of the clinic example (both ORMs)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from support.clinic import EXTRA_MIGRATION, add_app, clinic_copy
from support.processes import EXE, run

from tenant_router_cli.exit_codes import ExitCode


def cli(example: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    command = [EXE, *args, "--settings", "clinic.settings", "--pythonpath", str(example), "--json"]
    result = run(command, cwd=example)
    return result, json.loads(result.stdout.splitlines()[-1])


def contents(path: Path) -> dict[str, Any]:
    """Every object's SQL and every table's rows (sqlite_sequence included: the next ids)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        schema = sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall(), key=repr)
        tables = [row[1] for row in schema if row[0] == "table"]
        rows = {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()
    for row in rows.get("django_migrations", []):
        assert isinstance(row[-1], str)  # applied timestamps differ: compared without them below
    rows["django_migrations"] = sorted((r[1], r[2]) for r in rows.get("django_migrations", []))
    return {"schema": schema, "rows": rows}


def test_create_copies_a_template_equal_to_a_migrated_file(tmp_path: Path) -> None:
    copied = clinic_copy(tmp_path / "a")
    migrated = clinic_copy(tmp_path / "b")

    result, report = cli(copied, "create", "tenant-1", "tenant-2", "--no-journal")
    assert result.returncode == ExitCode.OK, result.stderr
    rows = [r for r in report["results"] if r["tenant"]]
    assert {(r["tenant"], r["status"]) for r in rows} == {
        (t, "created") for t in ("tenant-1", "tenant-2") for _ in (1, 2)
    }, rows
    assert all("copied from template" in r["reason"] for r in rows), rows
    result, _ = cli(migrated, "create", "tenant-1", "--no-journal", "--no-template")
    assert result.returncode == ExitCode.OK, result.stderr

    var = copied / "var"
    for name in ("tenant-1.sqlite3", "tenant-1-sa.sqlite3"):
        assert contents(var / name) == contents(migrated / "var" / name), name
        mode = stat.S_IMODE(os.stat(var / name).st_mode)
        assert mode & 0o600 == 0o600 and mode != 0o600, oct(mode)  # writable, not private to the creator
    assert not (copied / "var" / "tenant-3.sqlite3").exists()  # not named: not made

    listed, found = cli(copied, "templates")
    assert listed.returncode == ExitCode.OK, listed.stderr
    templates = found["templates"]
    assert sorted((t["state"], t["made"]) for t in templates) == [("current", 2), ("current", 2)], templates
    for template in templates:
        assert not os.access(template["name"], os.W_OK) or os.geteuid() == 0  # read-only to its owner
        assert stat.S_IMODE(os.stat(template["name"]).st_mode) == 0o444

    command = [EXE, "migrate", "--check", "--tenant", "tenant-[12]", "--settings", "clinic.settings"]
    checked = run([*command, "--pythonpath", str(copied)], cwd=copied)
    # both tenants at head; only the reserved database, which `create` leaves alone, is pending
    assert "django_orm: 2 at head, 1 pending" in checked.stdout, checked.stdout + checked.stderr
    assert "sqlalchemy_orm: 2 at head\n" in checked.stdout, checked.stdout


def test_a_new_migration_makes_a_new_sqlite_template_and_prune_drops_the_stale_one(tmp_path: Path) -> None:
    example = clinic_copy(tmp_path)
    result, report = cli(example, "create", "tenant-1", "--orm", "django_orm", "--no-journal")
    assert result.returncode == ExitCode.OK, result.stderr
    first = {r["reason"].split()[3] for r in report["results"] if r["tenant"]}

    add_app(example, "extra", {"0001_initial": EXTRA_MIGRATION})
    result, report = cli(example, "create", "tenant-2", "--orm", "django_orm", "--no-journal")
    assert result.returncode == ExitCode.OK, result.stderr
    second = {r["reason"].split()[3] for r in report["results"] if r["tenant"]}
    assert first != second  # the added migration changed the digest: a new template
    conn = sqlite3.connect(example / "var" / "tenant-2.sqlite3")
    assert ("extra", "0001_initial") in conn.execute("SELECT app, name FROM django_migrations").fetchall()
    conn.close()

    pruned, found = cli(example, "templates", "--orm", "django_orm", "--prune")
    assert pruned.returncode == ExitCode.OK, pruned.stderr
    states = sorted((Path(t["name"]).name, t["state"], t["dropped"]) for t in found["templates"])
    assert states == sorted([(first.pop(), "stale", True), (second.pop(), "current", False)]), states
    left = [p.name for p in (example / "var").iterdir() if p.name.startswith("tr_tpl_")]
    assert len(left) == 2 and all(
        n.endswith(".json") or n in {s[0] for s in states if not s[2]} for n in left
    )
