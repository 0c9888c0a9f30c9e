"""Drift's edges: no right to create the scratch database, an unknown migration state, Alembic databases."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.test.utils import override_settings
from support.servers import POSTGRES, require
from support.sites import TenantSite, server_site
from support.sqlalchemy_sites import database_urls, execute, make_site

from tenant_router_cli.exit_codes import ExitCode

MIGRATE = ("migrate", "--orm", "django_orm", "--no-journal", "--jobs", "1")


@pytest.fixture
def limited_role() -> Iterator[str]:
    """A PostgreSQL login without CREATEDB; dropped afterwards."""
    server = require(POSTGRES)
    role = f"tr_nocreatedb_{uuid.uuid4().hex[:8]}"
    server.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB PASSWORD 's3cret-drift'")
    try:
        yield role
    finally:
        server.execute(f"DROP OWNED BY {role}")
        server.execute(f"DROP ROLE IF EXISTS {role}")


def test_role_without_createdb_gets_one_clear_error(tmp_path: Path, limited_role: str) -> None:
    server = require(POSTGRES)
    with server.databases(1, prefix="trdc") as (name,):
        site = server_site(tmp_path, server, [name])
        with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(site.write())):
            assert site.invoke(*MIGRATE, "--settings", site.settings_module).exit_code == 0
            server_db = site.databases[0]
            server_db.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {limited_role}")
            server_db.entry.update(USER=limited_role, PASSWORD="s3cret-drift")

            refused = site.invoke("drift", "--settings", site.settings_module, "--tenant", "tenant-1")

            assert refused.exit_code == ExitCode.CONFIG, refused.output + refused.stderr
            error, hint = refused.stderr.strip().splitlines()
            assert error.startswith("error: drift: cannot create a scratch database on postgresql://")
            assert error.endswith("the role lacks the right to create databases (CREATEDB).")
            assert hint.startswith(
                "hint: Grant it CREATEDB, or set TENANT_ROUTER_DRIFT_SCRATCH = {'postgresql'"
            )
            assert "s3cret-drift" not in refused.output + refused.stderr
            assert refused.stdout == ""

            nobody = {"postgresql": {"USER": "tr_no_such_role", "PASSWORD": "pw-never-shown"}}
            with override_settings(TENANT_ROUTER_DRIFT_SCRATCH=nobody):
                wrong = site.invoke("drift", "--settings", site.settings_module, "--tenant", "tenant-1")
            assert wrong.exit_code == ExitCode.CONFIG, wrong.output
            assert (
                f"error: drift: cannot connect to postgresql://tr_no_such_role@{server.parts['host']}:5432"
                in wrong.stderr
            )
            assert "pw-never-shown" not in wrong.output

            admin = {"postgresql": {"USER": server.parts["user"], "PASSWORD": server.parts["password"]}}
            before = set(server.named("tr_drift_"))  # another run's (a killed one's) are not this one's
            with override_settings(TENANT_ROUTER_DRIFT_SCRATCH=admin):
                allowed = site.invoke("drift", "--settings", site.settings_module, "--tenant", "tenant-1")

            assert allowed.exit_code == ExitCode.OK, allowed.output + allowed.stderr
            assert "django_orm: 2 match their migrations" in allowed.output
            assert set(server.named("tr_drift_")) == before  # its scratch database was dropped

            # migrate --refuse-drift meets it after the reserved databases were migrated: the summary
            # says what was done, then the same line, exit 3 (not a bare "nothing touched" error)
            server_db.entry.update(USER=server.parts["user"], PASSWORD=server.parts["password"])
            server_db.execute(
                "DELETE FROM django_migrations WHERE id = (SELECT max(id) FROM django_migrations)"
            )
            server_db.entry.update(USER=limited_role, PASSWORD="s3cret-drift")
            stopped = site.invoke(
                *MIGRATE, "--settings", site.settings_module, "--tenant", "tenant-1", "--refuse-drift"
            )
            assert stopped.exit_code == ExitCode.CONFIG, stopped.output + stopped.stderr
            assert "Summary:" in stopped.stdout
            assert "error: drift: cannot create a scratch database on postgresql://" in stopped.stderr
            assert "Traceback" not in stopped.stderr and "s3cret-drift" not in stopped.output
        connections.close_all()


def test_inconsistent_history_is_an_unknown_state(site: TenantSite) -> None:
    assert site.invoke(*MIGRATE, "--settings", site.settings_module).exit_code == 0
    site.db("tenant-2").execute(
        "DELETE FROM django_migrations WHERE app = 'patients' AND name = '0002_seed_wards'"
    )

    result = site.invoke("drift", "--settings", site.settings_module, "--orm", "django_orm")

    assert result.exit_code == ExitCode.FAILED, result.output
    assert (
        "1 unknown state: tenant-2/default (unknown state: app patients has 2 latest applied migrations)"
        in (result.output)
    )
    assert "drifted" not in result.output


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_alembic_databases_drift_and_pending(tmp_path: Path, backend: str) -> None:
    with database_urls(backend, tmp_path, 3) as urls:
        site = make_site(tmp_path / "site", {f"tenant-{i}": u for i, u in enumerate(urls, 1)}, django=False)
        assert site.run("migrate", "--no-journal").returncode == 0
        back = site.run(
            "migrate",
            "--no-journal",
            "--orm",
            "sqlalchemy_orm",
            "--tenant",
            "tenant-3",
            "--target",
            "b2000000002b",
        )
        assert back.returncode == 0, back.stdout + back.stderr
        execute(urls[1], "DROP INDEX ledger_account")

        result = site.run("drift", "--json")

        assert result.returncode == ExitCode.DRIFT, result.stdout + result.stderr
        (orm,) = json.loads(result.stdout)["orms"]
        states = {d["tenant"]: (g["state"], d) for g in orm["groups"] for d in g["databases"]}
        assert {t: s for t, (s, _) in states.items()} == {
            "tenant-1": "match",
            "tenant-2": "drifted",
            "tenant-3": "pending",
        }
        (difference,) = states["tenant-2"][1]["differences"]
        assert (difference["kind"], difference["name"], difference["problem"]) == (
            "index",
            "ledger_account",
            "missing",
        )
        assert orm["summary"] == (
            "1 match their migrations; 1 pending (not drift); 1 drifted: "
            "tenant-2/default (index ledger_account missing)"
        )


def test_malformed_scratch_setting_is_a_configuration_error(site: TenantSite) -> None:
    with override_settings(TENANT_ROUTER_DRIFT_SCRATCH={"postgresql": {"NAME": "x"}}):
        result = site.invoke("drift", "--settings", site.settings_module)

    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "TENANT_ROUTER_DRIFT_SCRATCH['postgresql'] has unknown key 'NAME'" in result.stderr


def test_rows_of_an_app_no_longer_installed_are_ignored_as_migrate_does(site: TenantSite) -> None:
    assert site.invoke(*MIGRATE, "--settings", site.settings_module).exit_code == 0
    tenant = site.db("tenant-1")
    tenant.execute(
        "INSERT INTO django_migrations (app, name, applied) VALUES ('audit', '0001_log', '2026-01-01')"
    )
    tenant.execute("CREATE TABLE audit_log (id integer PRIMARY KEY)")

    result = site.invoke("drift", "--settings", site.settings_module, "--tenant", "tenant-1")

    assert result.exit_code == ExitCode.OK, result.output
    assert result.output.startswith("django_orm: 2 match their migrations\n"), result.output
    assert "(audit_log): tenant-1/default" in result.output
