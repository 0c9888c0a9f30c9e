"""Faults: a SIGKILLed run, its workers, and what `--only-failed` does next (issue 11, items 2 and 9)."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from pathlib import Path

import pytest
from support.clinic import add_gate, arrivals, clinic_copy, pg_url, write_django_tenants
from support.processes import EXE, Streamed, events, gone, is_event, report_of, run, wait_until
from support.servers import POSTGRES, pg_query, require

from tenant_router_cli.exit_codes import ExitCode

DJANGO_HEAD = ("gate", "0001_wait")
ALEMBIC_HEAD = "c81f5a0e4b44"


def both_orms(example: Path, journal: Path, *extra: str) -> list[str]:
    """`migrate` on the clinic copy, both ORMs, journal in `journal`."""
    return [
        EXE, "migrate", "--settings", "clinic.settings", "--pythonpath", str(example),
        "--journal", str(journal), "--json", *extra,
    ]  # fmt: skip


def django_rows(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "django_migrations" not in tables:
            return []
        return [tuple(r) for r in conn.execute("SELECT app, name FROM django_migrations ORDER BY id")]


def alembic_heads(path: Path) -> list[str]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "alembic_version" not in tables:
            return []
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]


@pytest.fixture
def gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The clinic example (three SQLite tenants, both ORMs) with the gate app; the gate folder."""
    example = clinic_copy(tmp_path)
    add_gate(example)
    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("TR_GATE_DIR", str(gate))
    return example, gate


def test_only_failed_after_a_sigkill_redoes_every_unfinished_database(
    gated: tuple[Path, Path], tmp_path: Path
) -> None:
    """Killed in the Django phase: tenant-1's Django database is done, its Alembic one never started."""
    example, gate = gated
    journal = tmp_path / "journal"
    (gate / "only").write_text("tenant-2.sqlite3\n")
    first = Streamed(both_orms(example, journal, "--jobs", "1"), example)
    try:
        first.wait_for(is_event("tenant_finished", orm="django_orm", tenant="tenant-1"))
        wait_until(lambda: arrivals(gate), "tenant-2 at the gate")
        first.proc.send_signal(signal.SIGKILL)
        first.finish()
    finally:
        first.kill()
    var = example / "var"
    assert DJANGO_HEAD in django_rows(var / "tenant-1.sqlite3")
    assert alembic_heads(var / "tenant-1-sa.sqlite3") == []  # the run died before the Alembic phase

    (gate / "open").touch()
    again = run(both_orms(example, journal, "--only-failed"), cwd=example)

    assert again.returncode == ExitCode.OK, again.stderr
    rows = {(r["orm"], r["tenant"]) for r in report_of(again.stdout)["results"] if r["tenant"]}
    assert ("django_orm", "tenant-1") not in rows  # finished in the killed run: left alone
    assert ("sqlalchemy_orm", "tenant-1") in rows
    for tenant in ("tenant-1", "tenant-2", "tenant-3"):
        applied = django_rows(var / f"{tenant}.sqlite3")
        assert applied[-1] == DJANGO_HEAD and len(applied) == len(set(applied)), tenant
        assert alembic_heads(var / f"{tenant}-sa.sqlite3") == [ALEMBIC_HEAD], tenant


def test_workers_exit_when_the_run_is_sigkilled(gated: tuple[Path, Path], tmp_path: Path) -> None:
    """kill -9 of a `--jobs 2` run while both workers are inside a migration: the workers go too."""
    example, gate = gated
    first = Streamed(both_orms(example, tmp_path / "journal", "--jobs", "2", "--orm", "django_orm"), example)
    workers: list[int] = []
    try:
        found = wait_until(lambda: len(arrivals(gate)) >= 2 and arrivals(gate), "two workers at the gate")
        workers = [int(mark.split("-", 1)[0]) for mark in found]
        assert first.proc.pid not in workers  # they are the forked workers, not the run's process
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=30)  # (its output pipe stays open while a worker lives)
        # Bounded only so that a hung test ends: without the fix they wait at the gate for 2 minutes.
        wait_until(lambda: all(gone(pid) for pid in workers), "the workers to exit", timeout=45)
    finally:
        first.kill()
        for pid in workers:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
    for tenant in ("tenant-1", "tenant-2"):  # killed mid-migration: rolled back to a boundary
        assert DJANGO_HEAD not in django_rows(example / "var" / f"{tenant}.sqlite3")


def terminate_sessions(names: list[str]) -> int:
    """pg_terminate_backend every session on these databases; how many were ended."""
    conn = POSTGRES.admin()
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            (names,),
        )
        return int(cur.fetchone()[0])
    finally:
        conn.close()


def test_connections_killed_mid_run_are_retried_and_every_database_migrates(
    gated: tuple[Path, Path], tmp_path: Path
) -> None:
    """Both workers sit inside a migration when every session of the test databases is terminated (and
    again and again for a while): the migrations, rolled back by the server, are retried."""
    example, gate = gated
    require(POSTGRES)
    with POSTGRES.databases(4, prefix="trkill") as names:
        write_django_tenants(example, {f"t{i}": {"URL": pg_url(n)} for i, n in enumerate(names)})
        first = Streamed(
            both_orms(example, tmp_path / "journal", "--jobs", "2", "--orm", "django_orm"), example
        )
        storm_done = threading.Event()
        killed: list[int] = []

        def storm() -> None:  # a few more rounds, spread over the next databases' work
            for _ in range(10):
                if storm_done.wait(0.15):
                    return
                killed.append(terminate_sessions(names))

        try:
            inside = wait_until(
                lambda: len(arrivals(gate)) >= 2 and arrivals(gate), "two workers at the gate"
            )
            killed.append(terminate_sessions(names))
            assert killed[0] >= 2  # at least the two migrating sessions
            (gate / "open").touch()
            stormer = threading.Thread(target=storm, daemon=True)
            stormer.start()
            code, stdout, stderr = first.finish(timeout=180)
        finally:
            storm_done.set()
            (gate / "open").touch()
            first.kill()

        assert code == ExitCode.OK, stderr + stdout[-3000:]
        lines = events(stdout)
        retried = [e for e in lines if e["event"] == "tenant_retried"]
        gated_tenants = {f"t{names.index(mark.split('-', 1)[1])}" for mark in inside}
        assert gated_tenants <= {e["tenant"] for e in retried}, retried
        assert all(e["attempt"] >= 2 and e["delay"] > 0 for e in retried)
        for name in names:
            rows = pg_query(name, "SELECT app, name FROM django_migrations ORDER BY id")
            assert rows[-1] == DJANGO_HEAD and len(rows) == len(set(rows)), name
            assert pg_query(name, "SELECT count(*) FROM patients_ward") == [(3,)]
