"""Templates under faults, as real processes: a create killed with SIGKILL while it builds the template
(nothing half-built is ever copied; the next create clears it and builds once), a template someone is
connected to (the copy waits briefly, then the database is migrated instead and its row says so). (A stale
template on both servers: test_create_processes.py.)"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from support.clinic import add_gate, applied_on, arrivals, prefixed_clinic
from support.processes import EXE, Streamed, report_of, run, wait_until
from support.servers import POSTGRES

from tenant_router_cli.exit_codes import ExitCode


def create(example: Path, *args: str) -> list[str]:
    return [
        EXE, "create", *args, "--settings", "tpl_settings", "--pythonpath", str(example),
        "--orm", "django_orm", "--json", "--no-journal",
    ]  # fmt: skip


def test_a_create_killed_while_building_the_template_leaves_nothing_to_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example, prefix, names = prefixed_clinic(tmp_path, 1, POSTGRES)
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
        assert ("gate", "0001_wait") in applied_on(POSTGRES, names[0])
    finally:
        for name in [*names, *POSTGRES.named(prefix)]:
            POSTGRES.drop_database(name)


def test_a_template_someone_is_connected_to_is_not_copied_the_database_is_migrated(tmp_path: Path) -> None:
    import psycopg

    example, prefix, names = prefixed_clinic(tmp_path, 2, POSTGRES)
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
        assert ("patients", "0003_visit_index") in applied_on(POSTGRES, names[1])
        assert POSTGRES.named(prefix) == [template]  # left as it was
    finally:
        for name in [*names, *POSTGRES.named(prefix)]:
            POSTGRES.drop_database(name)
