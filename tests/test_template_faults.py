"""Templates under faults, as real processes: a create killed with SIGKILL while it builds the template
(nothing half-built is ever copied; the next create clears it and builds once), a template someone is
connected to (the copy waits briefly, then the database is migrated instead and its row says so), and a
stale template on MariaDB (a new migration builds a new one; `--prune` drops the old)."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.clinic import add_app, add_gate, arrivals, clinic_copy, pg_url, write_django_tenants
from support.processes import EXE, Streamed, report_of, run, wait_until
from support.servers import MYSQL, POSTGRES, Server, pg_query, require

from tenant_router_cli.exit_codes import ExitCode

EXTRA = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_visit_index")]
    operations = [migrations.CreateModel("Note", [("id", models.AutoField(primary_key=True))])]
"""


def url(server: Server, name: str) -> str:
    return pg_url(name) if server is POSTGRES else f"mysql://root@127.0.0.1:3306/{name}"


def prefixed(tmp_path: Path, server: Server, count: int) -> tuple[Path, str, list[str]]:
    """A clinic copy with a template prefix of the test's own and `count` Django-only tenants t0...
    whose databases on `server` do not exist yet."""
    require(server)
    example = clinic_copy(tmp_path)
    prefix = f"trt{uuid.uuid4().hex[:8]}"
    (example / "tpl_settings.py").write_text(
        f"from clinic.settings import *  # noqa: F403\nTENANT_ROUTER_TEMPLATE_PREFIX = {prefix!r}\n"
    )
    names = [f"trk_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    write_django_tenants(example, {f"t{i}": {"URL": url(server, n)} for i, n in enumerate(names)})
    return example, prefix, names


def create(example: Path, *args: str) -> list[str]:
    return [
        EXE, "create", *args, "--settings", "tpl_settings", "--pythonpath", str(example),
        "--orm", "django_orm", "--json", "--no-journal",
    ]  # fmt: skip


def applied(server: Server, name: str) -> list[tuple[Any, ...]]:
    """The (app, name) rows of django_migrations in database `name`."""
    if server is POSTGRES:
        return pg_query(name, "SELECT app, name FROM django_migrations")
    conn = server.admin()
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT app, name FROM `{name}`.django_migrations")
        return [tuple(r) for r in cursor.fetchall()]
    finally:
        conn.close()


def test_a_create_killed_while_building_the_template_leaves_nothing_to_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example, prefix, names = prefixed(tmp_path, POSTGRES, 1)
    add_gate(example)
    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("TR_GATE_DIR", str(gate))
    try:
        first = Streamed(create(example, "t0"), example)
        try:
            wait_until(lambda: arrivals(gate), "the template's build at the gate")
            first.proc.send_signal(signal.SIGKILL)
            first.finish()
        finally:
            first.kill()
        (left,) = POSTGRES.named(prefix)
        assert "_b" in left.removeprefix(prefix)  # an unpublished build, never a template
        assert not POSTGRES.named(names[0])  # the tenant's database was not made

        (gate / "open").touch()
        again = run(create(example, "t0"), cwd=example)

        assert again.returncode == ExitCode.OK, again.stderr
        (row,) = [r for r in report_of(again.stdout)["results"] if r["tenant"]]
        assert row["status"] == "created" and "copied from template" in row["reason"], row
        (template,) = POSTGRES.named(prefix)  # the left build is gone; one template, published
        assert "_b" not in template.removeprefix(prefix) and template in row["reason"]
        assert ("gate", "0001_wait") in applied(POSTGRES, names[0])
    finally:
        for name in [*names, *POSTGRES.named(prefix)]:
            POSTGRES.drop_database(name)


def test_a_template_someone_is_connected_to_is_not_copied_the_database_is_migrated(tmp_path: Path) -> None:
    import psycopg

    example, prefix, names = prefixed(tmp_path, POSTGRES, 2)
    try:
        made = run(create(example, "t0"), cwd=example)
        assert made.returncode == ExitCode.OK, made.stderr
        (template,) = POSTGRES.named(prefix)
        POSTGRES.execute(f'ALTER DATABASE "{template}" ALLOW_CONNECTIONS true')  # someone opened it up
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=template, autocommit=True):
            again = run(create(example, "t1"), cwd=example)

        assert again.returncode == ExitCode.OK, again.stderr
        (row,) = [r for r in report_of(again.stdout)["results"] if r["tenant"]]
        assert row["status"] == "migrated", row
        notes = [
            e["note"] for e in map(json.loads, again.stdout.splitlines()) if e.get("event") == "tenant_noted"
        ]
        assert any("not copied from a template" in n and "migrated instead" in n for n in notes), notes
        assert ("patients", "0003_visit_index") in applied(POSTGRES, names[1])
        assert POSTGRES.named(prefix) == [template]  # left as it was
    finally:
        for name in [*names, *POSTGRES.named(prefix)]:
            POSTGRES.drop_database(name)


def test_a_new_migration_makes_a_new_mariadb_template_and_prune_drops_the_stale_one(tmp_path: Path) -> None:
    example, prefix, names = prefixed(tmp_path, MYSQL, 2)

    def cli(*args: str) -> Any:
        command = [EXE, *args, "--settings", "tpl_settings", "--pythonpath", str(example), "--json"]
        result = run(command, cwd=example)
        return result, json.loads(result.stdout.splitlines()[-1])

    try:
        created, report = cli("create", "t0", "--orm", "django_orm", "--no-journal")
        assert created.returncode == ExitCode.OK, created.stderr
        first = {r["reason"].split()[3] for r in report["results"] if r["tenant"]}
        add_app(example, "extra", {"0001_initial": EXTRA})
        created, report = cli("create", "t1", "--orm", "django_orm", "--no-journal")
        assert created.returncode == ExitCode.OK, created.stderr
        second = {r["reason"].split()[3] for r in report["results"] if r["tenant"]}
        assert first != second and all(r["status"] == "created" for r in report["results"] if r["tenant"])
        assert ("extra", "0001_initial") in applied(MYSQL, names[1])

        pruned, found = cli("templates", "--prune")
        assert pruned.returncode == ExitCode.OK, pruned.stderr
        states = sorted((t["name"], t["state"], t["dropped"]) for t in found["templates"])
        assert states == sorted([(first.pop(), "stale", True), (second.pop(), "current", False)]), states
        assert len(MYSQL.named(prefix)) == 1
        assert applied(MYSQL, names[0])  # tenants untouched
    finally:
        for name in [*names, *MYSQL.named(prefix)]:
            MYSQL.drop_database(name)
