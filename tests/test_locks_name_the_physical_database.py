"""Run locks name the physical database, whoever connects and however (issue 11, items 1, 8, 14)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.clinic import add_gate, arrivals, clinic_copy, migrate_args, write_django_tenants
from support.processes import Streamed, is_event, report_of, wait_until
from support.servers import POSTGRES, Server, pg_query, pg_roles, require

from tenant_router.safety.locks import TRY_LOCK_SQL, database_lock
from tenant_router_cli.exit_codes import ExitCode


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {r["tenant"]: r["status"] for r in report["results"] if r["tenant"]}


def polling_without_the_lock(name: str, role: str) -> bool:
    """`role` has a session on database `name` whose last query tried the run lock and did not get it."""
    rows = pg_query(
        name,
        "SELECT a.query, EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory') "
        f"FROM pg_stat_activity a WHERE a.usename = '{role}' AND a.datname = current_database()",
    )
    return any("advisory_lock" in query and not holds for query, holds in rows)


def test_two_runs_as_two_roles_migrate_each_database_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run A (role A, 127.0.0.1) is held inside a migration of t0; run B (role B, `localhost`) must wait."""
    require(POSTGRES)
    example = clinic_copy(tmp_path)
    add_gate(example)
    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("TR_GATE_DIR", str(gate))
    journal = tmp_path / "journal"
    with pg_roles(2) as (role_a, role_b), POSTGRES.databases(2, prefix="trrole") as names:

        def tenants(role: str, host: str) -> None:
            urls = {f"t{i}": {"URL": f"postgres://{role}@{host}:5432/{n}"} for i, n in enumerate(names)}
            write_django_tenants(example, urls)

        tenants(role_a, "127.0.0.1")
        first = Streamed(
            migrate_args(example, journal, "--jobs", "1", "--lock-timeout", "60", "--json"), example
        )
        runs = [first]
        try:
            first.wait_for(is_event("step_started", tenant="t0", step="gate.0001_wait"))
            wait_until(lambda: arrivals(gate), "run A at the gate")
            tenants(role_b, "localhost")  # the same databases, reached another way
            second = Streamed(
                migrate_args(example, journal, "--jobs", "1", "--lock-timeout", "60", "--json"), example
            )
            runs.append(second)
            # B either waits for t0's lock (right) or migrates it alongside A and reaches the gate (wrong).
            wait_until(
                lambda: len(arrivals(gate)) > 1 or polling_without_the_lock(names[0], role_b),
                "run B at t0's lock or at the gate",
            )
            (gate / "open").touch()
            finished = [each.finish() for each in runs]
        finally:
            (gate / "open").touch()
            for each in runs:
                each.kill()

        assert [code for code, _, _ in finished] == [ExitCode.OK, ExitCode.OK], [
            [(r["tenant"], r["alias"], r["status"], r["error"]) for r in report_of(o)["results"]]
            for _, o, _ in finished
        ]
        reports = [statuses(report_of(stdout)) for _, stdout, _ in finished]
        assert reports[0] == {"t0": "migrated", "t1": "migrated"}, reports
        assert reports[1] == {"t0": "up_to_date", "t1": "up_to_date"}, reports
        for name in names:
            rows = pg_query(name, "SELECT app, name FROM django_migrations ORDER BY id")
            assert len(rows) == len(set(rows)), rows  # every migration recorded once
            assert ("gate", "0001_wait") in rows
            assert pg_query(name, "SELECT count(*) FROM patients_ward") == [
                (3,)
            ]  # the data migration ran once
        assert len(arrivals(gate)) == 2  # the gate migration ran once per database


def test_concurrent_shards_wait_for_the_reserved_database(tmp_path: Path) -> None:
    """`--shard 1/2` and `--shard 2/2` at once: the reserved database is migrated by one, the other waits."""
    example = clinic_copy(tmp_path)
    central = example / "var" / "central.sqlite3"
    journal = tmp_path / "journal"
    shards = []
    # Another run holds the reserved database while both shards start: both must wait for it.
    with database_lock(f"sqlite:{central}", lambda: None, 0) as held:
        assert held
        try:
            for shard in ("1/2", "2/2"):
                shards.append(Streamed(migrate_args(example, journal, "--shard", shard, "--json"), example))
            for each in shards:
                each.wait_for(is_event("tenant_started", tenant=None, alias="central"))
        except BaseException:
            for each in shards:
                each.kill()
            raise
    finished = [each.finish() for each in shards]

    assert [code for code, _, _ in finished] == [ExitCode.OK, ExitCode.OK], [e for _, _, e in finished]
    reports = [report_of(stdout) for _, stdout, _ in finished]
    central_rows = sorted(
        r["status"] for report in reports for r in report["results"] if r["alias"] == "central"
    )
    assert central_rows == ["migrated", "up_to_date"], central_rows
    tenants = [statuses(report) for report in reports]
    assert not set(tenants[0]) & set(tenants[1])  # disjoint shares
    assert set(tenants[0]) | set(tenants[1]) == {"tenant-1", "tenant-2", "tenant-3"}
    assert all(s == "migrated" for t in tenants for s in t.values()), tenants


@contextmanager
def owned_objects_dropped(site: Any, role: str) -> Iterator[None]:
    """Before the role goes: what it created in the site's PostgreSQL databases goes first."""
    try:
        yield
    finally:
        for db in site.databases:
            if db.server is not None and db.server.kind == "postgres":
                db.execute(f"DROP OWNED BY {role}")


def test_a_database_held_through_another_role_is_locked(
    server: Server, server_site_factory: Any, tmp_path: Path
) -> None:
    """The run connects as a role of its own (and, on PostgreSQL, through `localhost`): the database
    held by a session of the admin role is still the same database, so it is reported locked."""
    site = server_site_factory(2)
    held = site.db("tenant-1")
    with server.user("s3cret-Pw") as role, owned_objects_dropped(site, role):
        for db in site.databases:
            db.entry.update(USER=role, PASSWORD="s3cret-Pw")
            if server.kind == "postgres":
                db.entry["HOST"] = "localhost"
        admin = held.connect()  # the admin role, by IP address
        try:
            cursor = admin.cursor()
            cursor.execute(TRY_LOCK_SQL["postgresql" if server.kind == "postgres" else "mysql"])
            assert cursor.fetchone()[0] in (True, 1)
            result = site.invoke(
                "migrate", "--settings", site.settings_module, "--lock-timeout", "0", "--no-journal", "--json"
            )
        finally:
            admin.close()

    assert result.exit_code == ExitCode.LOCKED, result.output
    assert statuses(report_of(result.stdout)) == {"tenant-1": "locked", "tenant-2": "migrated"}
    assert held.table_names() == set()
    assert "s3cret-Pw" not in result.output
