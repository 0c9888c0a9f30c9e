"""Real SQLite, PostgreSQL and MariaDB: schemas equal `manage.py migrate`, failures isolated, no password shown."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test.utils import override_settings
from support.describe import django_rows, schema, url_for
from support.paths import EXAMPLE, TESTS
from support.processes import clean_environment, run
from support.servers import MYSQL, POSTGRES, Server, require
from support.sites import Database, TenantSite, server_site

from tenant_router_cli.exit_codes import ExitCode


def plain_migrate(tmp: Path, entry: dict[str, Any], tenant_config: Path) -> None:
    """`django-admin migrate` against one database alone, in its own process: the reference."""
    settings = tmp / "refsettings.py"
    settings.write_text(  # tenant-router not involved: the project's own router applies the strategy
        "from trsite.settings import *\n"
        "INSTALLED_APPS = [a for a in INSTALLED_APPS if a != 'tenant_router']\n"
        f"DATABASES = {{'default': {entry!r}, 'central': DATABASES['central']}}\n"
        "class StrategyRouter:\n"
        "    def allow_migrate(self, db, app_label, **hints):\n"
        "        from clinic.routing import migrate_strategy\n"
        "        return migrate_strategy(self, db, app_label, **hints)\n"
        "DATABASE_ROUTERS = [StrategyRouter()]\n"
    )
    env = clean_environment(tmp, TESTS, EXAMPLE, DJANGO_SETTINGS_MODULE="refsettings")
    run([sys.executable, "-m", "django", "migrate", "--verbosity", "0"], tmp, env=env, check=True)


def assert_same_as_plain_migrate(
    site: TenantSite, tenant_dbs: list[Database], reference: dict[str, Any]
) -> None:
    """Every tenant (the first records shared model states, the others replay them) equals plain migrate."""
    plain_migrate(site.tmp, reference, site.config_path)
    theirs = url_for(reference)
    for tenant_db in tenant_dbs:
        ours = url_for(site_entry(site, tenant_db))
        assert schema(ours) == schema(theirs), tenant_db.tenant
        assert django_rows(ours) == django_rows(theirs), tenant_db.tenant


def site_entry(site: TenantSite, db: Database) -> dict[str, Any]:
    from tenant_router import load_config

    manager = load_config().manager("django_orm")
    cfg = manager.tenant_db_config(db.tenant, "default")
    assert cfg is not None
    return cfg


def test_sqlite_schema_equals_plain_migrate(site: TenantSite) -> None:
    assert site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1").exit_code == 0
    reference = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(site.tmp / "reference.sqlite3")}

    assert_same_as_plain_migrate(site, site.databases, reference)


def test_server_schema_equals_plain_migrate(server: Server, server_site_factory: Any) -> None:
    site = server_site_factory(4)  # the last database is the reference
    reference = site.databases.pop()
    site.write()

    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1")

    assert result.exit_code == ExitCode.OK, result.output
    for db in site.databases:
        assert db.query("SELECT count(*) FROM patients_ward") == [(3,)]  # data migration, tenant's own db
    assert_same_as_plain_migrate(site, site.databases, reference.entry)


def test_server_failures_are_isolated(server: Server, server_site_factory: Any) -> None:
    site = server_site_factory(3)
    site.databases[1].entry["NAME"] = "tr_database_that_does_not_exist"
    broken = site.databases[2]
    broken.execute("CREATE TABLE patients_visit (id integer)")
    site.write()

    result = site.invoke("migrate", "--settings", site.settings_module, "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    rows = {r["tenant"]: r for r in report["results"] if r["tenant"]}
    assert rows["tenant-1"]["status"] == "migrated"
    assert (
        rows["tenant-2"]["status"] == "missing"
        and "tr_database_that_does_not_exist" in rows["tenant-2"]["error"]
    )
    assert (
        rows["tenant-3"]["status"] == "failed" and rows["tenant-3"]["failed_step"] == "patients.0001_initial"
    )
    assert "already exists" in rows["tenant-3"]["error"]
    applied = broken.applied()
    assert ("auth", "0012_alter_user_first_name_max_length") in applied
    assert ("patients", "0001_initial") not in applied
    if server.kind == "postgres":  # transactional DDL: the failed migration left nothing behind
        assert "patients_patient" not in broken.table_names()


def test_second_run_on_server_changes_nothing(server: Server, server_site_factory: Any) -> None:
    site = server_site_factory(2)
    assert site.invoke("migrate", "--settings", site.settings_module).exit_code == 0
    before = [db.applied() for db in site.databases]

    result = site.invoke("migrate", "--settings", site.settings_module, "--json")

    report = json.loads(result.stdout.splitlines()[-1])
    assert {r["status"] for r in report["results"] if r["tenant"]} == {"up_to_date"}
    assert [db.applied() for db in site.databases] == before


def test_no_connection_left_open_on_postgres(tmp_path: Path) -> None:
    server = require(POSTGRES)
    with server.databases(3, prefix="trc") as names:
        site = server_site(tmp_path, server, names)
        with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(site.write())):
            assert site.invoke("migrate", "--settings", site.settings_module).exit_code == 0
        conn = server.admin()
        try:
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s)", (names,))
            assert cur.fetchone()[0] == 0
        finally:
            conn.close()


PASSWORD = "p@ss%w:rd/x9"


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_password_with_special_characters_works_and_is_never_shown(tmp_path: Path, kind: str) -> None:
    from urllib.parse import quote

    server = require(POSTGRES if kind == "postgres" else MYSQL)
    with server.user(PASSWORD) as user, server.databases(2, prefix="trp") as names:
        site = server_site(tmp_path, server, names)
        for db in site.databases:
            db.entry.update(USER=user, PASSWORD=PASSWORD)
        p = server.parts
        scheme = "postgres" if kind == "postgres" else "mysql"
        site.databases[1].entry = {
            "URL": f"{scheme}://{user}:{quote(PASSWORD, safe='')}@{p['host']}:{p['port']}/{names[1]}"
        }
        site.extra_tenants["tenant-bad"] = {
            "clinic": {
                "orm_config": {
                    "django_orm": {
                        "default": {
                            **server.django_settings("tr_missing_db"),
                            "USER": user,
                            "PASSWORD": PASSWORD,
                        }
                    }
                }
            }
        }
        with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(site.write())):
            runs = [
                site.invoke("migrate", "--settings", site.settings_module, *flags)
                for flags in ((), ("--json",), ("--traceback", "-v"))
            ]
            listing = site.invoke("list-backends", "--settings", site.settings_module, "--json")
    for result in runs:
        assert result.exit_code == ExitCode.MISSING, result.output  # tenant-bad's database does not exist
        assert "Not completed (1):" in result.stdout or '"missing":1' in result.stdout
        for shown in (result.stdout, result.stderr):
            assert PASSWORD not in shown and quote(PASSWORD, safe="") not in shown
    assert "tenant-1/default: migrated" in runs[0].stdout and "tenant-2/default: migrated" in runs[0].stdout
    assert PASSWORD not in listing.stdout
