"""`tenant-router drift` and `migrate --refuse-drift` on real SQLite, PostgreSQL and MariaDB fleets.

One fleet per engine, built once per module: tenant-1 matches, tenant-2 lost an index, tenant-3 has an
extra column, tenant-4 has a column's nullability changed, tenant-5 is merely pending, tenant-6 is
pending *and* drifted (an extra column), tenant-7 has a table of its own (a note, not drift).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.test.utils import override_settings
from support.servers import MYSQL, POSTGRES, require
from support.sites import Database, TenantSite, server_site, sqlite_site

from tenant_router_cli.exit_codes import ExitCode

MIGRATE = ("migrate", "--orm", "django_orm", "--no-journal", "--jobs", "1")
DRIFT = ("drift", "--orm", "django_orm")


def sqlite_set_nullable(path: Path, table: str, column: str) -> None:
    """A hand hot-fix SQLite has no ALTER for: the column's NOT NULL removed from the stored DDL."""
    conn = sqlite3.connect(path)
    try:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        changed = sql.replace(f'"{column}" text NOT NULL', f'"{column}" text NULL')
        assert changed != sql, sql
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (changed, table))
        conn.execute("PRAGMA writable_schema = OFF")
        conn.commit()
    finally:
        conn.close()


def drift_fleet(site: TenantSite, kind: str) -> None:
    """Migrate everyone, then damage them as the module docstring says."""
    result = site.invoke(*MIGRATE, "--settings", site.settings_module)
    assert result.exit_code == 0, result.output + result.stderr
    for tenant in ("tenant-5", "tenant-6"):
        back = site.invoke(
            *MIGRATE, "--settings", site.settings_module, "--tenant", tenant, "--target", "patients", "0002"
        )
        assert back.exit_code == 0, back.output + back.stderr
    db = site.db
    if kind == "mysql":  # MariaDB keeps an index its foreign key needs: the hot-fix adds one of its own
        db("tenant-2").execute("CREATE INDEX visit_patient_fk ON patients_visit (patient_id)")
        db("tenant-2").execute("DROP INDEX visit_patient_at ON patients_visit")
    else:
        db("tenant-2").execute("DROP INDEX visit_patient_at")
    for tenant in ("tenant-3", "tenant-6"):
        db(tenant).execute("ALTER TABLE patients_patient ADD COLUMN hotfix integer NULL")
    if kind == "sqlite":
        assert db("tenant-4").path is not None
        sqlite_set_nullable(db("tenant-4").path, "patients_visit", "notes")
    elif kind == "postgres":
        db("tenant-4").execute("ALTER TABLE patients_visit ALTER COLUMN notes DROP NOT NULL")
    else:
        db("tenant-4").execute("ALTER TABLE patients_visit MODIFY notes longtext NULL")
    db("tenant-7").execute("CREATE TABLE reporting_cache (id integer PRIMARY KEY, total integer)")


@pytest.fixture(scope="module", params=["sqlite", "postgres", "mysql"])
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TenantSite]:
    """Seven tenants on one engine, damaged as the module docstring says."""
    tmp = tmp_path_factory.mktemp(f"drift-{request.param}")
    if request.param == "sqlite":
        yield from _activated(sqlite_site(tmp, 7), "sqlite")
        return
    server = require(POSTGRES if request.param == "postgres" else MYSQL)
    with server.databases(7, prefix="trd") as names:
        yield from _activated(server_site(tmp, server, names), request.param)


def _activated(site: TenantSite, kind: str) -> Iterator[TenantSite]:
    with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(site.write())):
        drift_fleet(site, kind)
        yield site
    connections.close_all()


def run_drift(site: TenantSite, *args: str) -> Any:
    return site.invoke(*DRIFT, "--settings", site.settings_module, *args)


def test_each_database_classified(fleet: TenantSite) -> None:
    result = run_drift(fleet)

    assert result.exit_code == ExitCode.DRIFT, result.output + result.stderr
    line = result.output.splitlines()[0]
    # central (reserved), tenant-1 and tenant-7 match; tenant-5 is pending; 2, 3, 4 and 6 drifted
    assert line.startswith("django_orm: 3 match their migrations; 1 pending (not drift); 4 drifted: "), line
    mysql = fleet.databases[0].server is not None and fleet.databases[0].server.kind == "mysql"
    lost = "index <foreign key (patient_id)> extra; " if mysql else ""  # its hot-fix's own index
    assert f"tenant-2/default ({lost}index visit_patient_at missing)" in line
    assert "tenant-3/default (column patients_patient.hotfix extra)" in line
    assert "tenant-4/default (column patients_visit.notes nullable, expected NOT NULL)" in line
    assert (
        "note: django_orm: 1 database(s) with 1 table(s) outside their migrations (reporting_cache): "
        "tenant-7/default" in result.output
    )
    assert "tenant-1" not in result.output and "tenant-5" not in result.output


def test_tenants_lists_every_group(fleet: TenantSite) -> None:
    result = run_drift(fleet, "--tenants")

    lines = result.output.splitlines()
    pending = lines.index(next(x for x in lines if x.startswith("  1 pending (not drift)")))
    assert lines[pending + 1].startswith("    tenant-5/default  at patients.0002_seed_wards, 1 pending")
    assert any(x.strip() == "tenant-1/default" for x in lines)


def test_json_groups_fingerprints_and_differences(fleet: TenantSite) -> None:
    result = run_drift(fleet, "--json", "--jobs", "2")

    assert result.exit_code == ExitCode.DRIFT, result.stderr
    data = json.loads(result.output)
    assert data["event"] == "drift" and data["drifted"] is True
    (orm,) = data["orms"]
    groups = {(g["state"], tuple(d["tenant"] for d in g["databases"])): g for g in orm["groups"]}
    states = sorted(g["state"] for g in orm["groups"])
    # central (other apps), tenant-1 and tenant-7 (the extra table) differ: three match groups
    assert states == ["drifted"] * 4 + ["match"] * 3 + ["pending"], states
    assert all(len(g["fingerprint"]) == 64 for g in orm["groups"])
    (lost,) = [g for (state, tenants), g in groups.items() if tenants == ("tenant-2",)]
    (db,) = lost["databases"]
    (first,) = [d for d in db["differences"] if d["problem"] == "missing"]
    others = [d for d in db["differences"] if d is not first]
    assert first == {
        "kind": "index",
        "table": "patients_visit",
        "name": "visit_patient_at",
        "problem": "missing",
        "expected": first["expected"],
        "actual": None,
    }
    assert [(d["name"], d["problem"]) for d in others] == (
        [("<foreign key (patient_id)>", "extra")]
        if fleet.databases[0].server and fleet.databases[0].server.kind == "mysql"
        else []
    )
    assert db["fingerprint"] != db["expected_fingerprint"]
    (nullable,) = [g for (_, tenants), g in groups.items() if tenants == ("tenant-4",)]
    change = nullable["databases"][0]["differences"][0]
    assert (change["kind"], change["name"], change["problem"]) == ("column", "notes", "changed")
    assert (change["expected"]["nullable"], change["actual"]["nullable"]) == (False, True)
    match = [g for (state, _), g in groups.items() if state == "match"]
    tenant_1 = next(g for g in match if any(d["tenant"] == "tenant-1" for d in g["databases"]))
    assert tenant_1["fingerprint"] == tenant_1["databases"][0]["expected_fingerprint"]


def test_exit_0_when_nothing_selected_drifted(fleet: TenantSite) -> None:
    result = run_drift(fleet, "--tenant", "tenant-1", "--tenant", "tenant-5", "--tenant", "tenant-7")

    assert result.exit_code == ExitCode.OK, result.output + result.stderr
    assert "3 match their migrations; 1 pending (not drift)" in result.output
    assert "drifted" not in result.output


def test_strict_makes_extra_tables_drift(fleet: TenantSite) -> None:
    result = run_drift(fleet, "--tenant", "tenant-7", "--strict")

    assert result.exit_code == ExitCode.DRIFT, result.output
    assert "tenant-7/default (table reporting_cache extra)" in result.output


def test_refuse_drift_leaves_drifted_databases_untouched(fleet: TenantSite) -> None:
    tenant_6: Database = fleet.db("tenant-6")
    before = sorted(tenant_6.applied())

    result = fleet.invoke(*MIGRATE, "--settings", fleet.settings_module, "--refuse-drift", "--json")

    assert result.exit_code == ExitCode.DRIFT, result.output + result.stderr
    report = json.loads(result.output.splitlines()[-1])
    rows = {(r["tenant"], r["alias"]): r for r in report["results"]}
    assert rows[("tenant-6", "default")]["status"] == "drifted"
    assert "column patients_patient.hotfix extra" in rows[("tenant-6", "default")]["error"]
    assert rows[("tenant-5", "default")]["status"] == "migrated"
    assert sorted(tenant_6.applied()) == before  # still at 0002, the extra column still there
    assert ("patients", "0003_visit_index") not in before
    assert ("patients", "0003_visit_index") in fleet.db("tenant-5").applied()
    plain = fleet.invoke(*MIGRATE, "--settings", fleet.settings_module, "--refuse-drift", "--jobs", "2")
    assert plain.exit_code == ExitCode.DRIFT, plain.output
    assert "  django_orm tenant-6/default: drifted: column patients_patient.hotfix extra" in plain.output
    assert sorted(tenant_6.applied()) == before
