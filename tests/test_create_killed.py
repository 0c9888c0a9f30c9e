"""`tenant-router create` killed with SIGKILL half-way: the next create finishes the database it made."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest
from support.clinic import add_gate, arrivals, clinic_copy, pg_url, write_django_tenants
from support.processes import EXE, Streamed, report_of, run, wait_until
from support.servers import POSTGRES, pg_query, require

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
