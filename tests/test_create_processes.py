"""`tenant-router create` as real processes on PostgreSQL: killed with SIGKILL half-way (the next create
finishes the database it made), and templates going stale when a migration is added."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.clinic import (
    EXTRA_MIGRATION,
    add_app,
    add_gate,
    applied_on,
    arrivals,
    clinic_copy,
    pg_url,
    prefixed_clinic,
    write_django_tenants,
)
from support.processes import EXE, Streamed, report_of, run, wait_until
from support.servers import MYSQL, POSTGRES, Server, pg_query, require

from tenant_router_cli.exit_codes import ExitCode


def create_args(example: Path, tmp: Path, *tenants: str) -> list[str]:
    return [
        EXE, "create", *tenants, "--settings", "clinic.settings", "--pythonpath", str(example),
        "--orm", "django_orm", "--journal", str(tmp / "journal"), "--json", "--no-template",
    ]  # fmt: skip


def test_a_create_killed_half_way_is_finished_by_the_next_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(POSTGRES)
    example = clinic_copy(tmp_path)
    add_gate(example)
    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("TR_GATE_DIR", str(gate))
    name = f"trk_{uuid.uuid4().hex[:10]}"
    write_django_tenants(example, {"tenant-1": {"URL": pg_url(name)}})
    try:
        first = Streamed(create_args(example, tmp_path, "tenant-1"), example)
        try:
            wait_until(lambda: arrivals(gate), "the new database's migration at the gate")
            first.proc.send_signal(signal.SIGKILL)
            first.finish()
        finally:
            first.kill()
        comment = pg_query(
            "postgres",
            f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{name}'",
        )
        assert comment and "being created" in comment[0][0]  # left by the killed run

        (gate / "open").touch()
        again = run(create_args(example, tmp_path, "tenant-1"), cwd=example)

        assert again.returncode == ExitCode.OK, again.stderr
        (row,) = [r for r in report_of(again.stdout)["results"] if r["tenant"]]
        assert row["status"] == "migrated", row
        applied = pg_query(name, "SELECT app, name FROM django_migrations")
        assert ("gate", "0001_wait") in applied
        comment = pg_query(
            "postgres",
            f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{name}'",
        )
        assert comment == [(None,)]  # finished: the mark is gone
    finally:
        POSTGRES.drop_database(name)


@pytest.mark.parametrize("server", [POSTGRES, MYSQL], ids=["postgres", "mysql"])
def test_a_new_migration_makes_a_new_template_and_prune_drops_the_stale_one(
    tmp_path: Path, server: Server
) -> None:
    example, prefix, names = prefixed_clinic(tmp_path, 2, server)

    def cli(*args: str) -> Any:
        command = [EXE, *args, "--settings", "tpl_settings", "--pythonpath", str(example), "--json"]
        result = run(command, cwd=example)
        return result, json.loads(result.stdout.splitlines()[-1])

    try:
        created, report = cli("create", "t0", "--orm", "django_orm", "--no-journal")
        assert created.returncode == ExitCode.OK, created.stderr
        first = {r["reason"].split()[3] for r in report["results"] if r["tenant"]}
        add_app(example, "extra", {"0001_initial": EXTRA_MIGRATION})
        created, report = cli("create", "t1", "--orm", "django_orm", "--no-journal")
        assert created.returncode == ExitCode.OK, created.stderr
        second = {r["reason"].split()[3] for r in report["results"] if r["tenant"]}
        assert first != second  # the added migration changed the digest: a new template
        assert all(r["status"] == "created" for r in report["results"] if r["tenant"]), report
        assert ("extra", "0001_initial") in applied_on(server, names[1])

        listed, found = cli("templates")
        assert listed.returncode == ExitCode.OK, listed.stderr
        states = {row["name"]: (row["state"], row["made"]) for row in found["templates"]}
        assert states == {first.pop(): ("stale", 1), next(iter(second)): ("current", 1)}, states

        pruned, found = cli("templates", "--prune")
        assert pruned.returncode == ExitCode.OK, pruned.stderr
        assert [r["name"] for r in found["templates"] if r["dropped"]] == [
            n for n, (state, _) in states.items() if state == "stale"
        ]
        assert server.named(prefix) == list(second)
        assert applied_on(server, names[0])  # tenants untouched
    finally:
        for name in [*names, *server.named(prefix)]:
            server.drop_database(name)


def test_two_creates_at_once_build_one_template_and_each_database_once(tmp_path: Path) -> None:
    """`create t0 t1` and `create t1 t2` started together: one template, every database at head once."""
    import subprocess

    from support.processes import clean_environment

    example, prefix, names = prefixed_clinic(tmp_path, 3, POSTGRES)

    def start(*tenants: str) -> subprocess.Popen[str]:
        command = [
            EXE, "create", *tenants, "--settings", "tpl_settings", "--pythonpath", str(example),
            "--orm", "django_orm", "--json", "--no-journal",
        ]  # fmt: skip
        return subprocess.Popen(
            command,
            cwd=example,
            env=clean_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    try:
        runs = [start("t0", "t1"), start("t1", "t2")]
        outputs = [proc.communicate(timeout=300) for proc in runs]
        for proc, (_out, err) in zip(runs, outputs, strict=True):
            assert proc.returncode == ExitCode.OK, err
        statuses = [
            {r["tenant"]: r["status"] for r in json.loads(out.splitlines()[-1])["results"] if r["tenant"]}
            for out, _ in outputs
        ]
        made = [s["t1"] for s in statuses]
        assert made.count("created") == 1 and set(made) <= {"created", "up_to_date"}, statuses
        assert len(POSTGRES.named(prefix)) == 1  # one template, built once
        for name in names:
            assert ("patients", "0003_visit_index") in pg_query(
                name, "SELECT app, name FROM django_migrations"
            )
    finally:
        for name in [*names, *POSTGRES.named(prefix)]:
            POSTGRES.drop_database(name)
