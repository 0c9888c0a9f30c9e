"""A tenant is its own process's database: template aliases mean the bound tenant, and the template is never
connected to (while migrating and at run time)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from directory.models import Clinic
from django.core.signals import request_finished
from django.db import connection, connections, transaction
from django.test.utils import override_settings
from patients.models import Patient
from support.paths import EXAMPLE, ROOT, TESTS
from support.processes import clean_environment, run
from support.servers import POSTGRES, Server, require
from support.sites import TenantSite

from tenant_router import ConfigurationError, migrate_tenants, tenant_context_bind
from tenant_router.orm_backends.django_orm.binding import TemplateAccessError
from tenant_router_cli.exit_codes import ExitCode

NOTES = ["permission audit_note of note", "raw cursor"]


def notes(db: Any) -> list[str]:
    return sorted(r[0] for r in db.query("SELECT text FROM legacy_note"))


def test_data_migrations_reach_the_tenant_through_every_door(site: TenantSite) -> None:
    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1")

    assert result.exit_code == ExitCode.OK, result.output
    for db in site.databases:  # create_permissions(using="default"), connection.cursor(), connection.vendor
        assert notes(db) == sorted([*NOTES, "vendor sqlite"])
    assert not Path(connections.settings["default"]["NAME"]).exists()  # the template was never created


def test_data_migrations_on_servers(server: Server, server_site_factory: Any) -> None:
    site = server_site_factory(2)

    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1")

    assert result.exit_code == ExitCode.OK, result.output
    vendor = "postgresql" if server.kind == "postgres" else "mysql"
    for db in site.databases:
        assert notes(db) == sorted([*NOTES, f"vendor {vendor}"])


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_template_on_a_server_that_refuses_connections_is_never_needed(server_site_factory: Any) -> None:
    require(POSTGRES)
    refused = {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "PORT": "1", "NAME": "x"}
    site = server_site_factory(2)  # tenants give their own HOST/PORT/NAME
    with override_settings(DATABASES={**connections.settings, "default": refused}):
        result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1", "--json")

    assert result.exit_code == ExitCode.OK, result.output
    assert all(notes(db) for db in site.databases)


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_migrated_template_is_left_exactly_as_it_was(site: TenantSite, tmp_path: Path) -> None:
    template = tmp_path / "migrated-template.sqlite3"
    env = clean_environment(TESTS, EXAMPLE, DJANGO_SETTINGS_MODULE="trsite.settings")
    env.update(TR_TEMPLATE_ACCESS="1", TR_TEMPLATE=str(template), TR_TENANT_CONFIG=str(site.config_path))
    run([sys.executable, "-m", "django", "migrate", "-v0"], ROOT, env=env, check=True)
    before = hashlib.sha256(template.read_bytes()).hexdigest(), template.stat().st_mtime_ns
    with override_settings(
        DATABASES={
            **connections.settings,
            "default": {**connections.settings["default"], "NAME": str(template)},
        }
    ):
        result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1")
        with tenant_context_bind("tenant-1"):
            Patient.objects.create(name="Ada")

    assert result.exit_code == ExitCode.OK, result.output
    assert (hashlib.sha256(template.read_bytes()).hexdigest(), template.stat().st_mtime_ns) == before
    assert site.db("tenant-1").query("SELECT name FROM patients_patient") == [("Ada",)]


def test_inside_a_binding_connection_and_atomic_mean_the_tenant(site: TenantSite) -> None:
    migrate_tenants()

    with tenant_context_bind("tenant-1"):
        assert Path(connection.settings_dict["NAME"]) == site.db("tenant-1").path
        with pytest.raises(RuntimeError), transaction.atomic():
            Patient.objects.create(name="rolled back")
            raise RuntimeError
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO patients_patient (name) VALUES ('raw')")
        assert connections["default"] is connection._connections["default"]

    assert site.db("tenant-1").query("SELECT name FROM patients_patient") == [("raw",)]
    assert site.db("tenant-2").query("SELECT name FROM patients_patient") == []


def test_unbound_template_alias_raises_one_clear_error_and_reserved_aliases_work(site: TenantSite) -> None:
    migrate_tenants()

    with pytest.raises(TemplateAccessError, match=r"No tenant is bound: DATABASES\['default'\]"):
        Patient.objects.create(name="nowhere")
    with pytest.raises(TemplateAccessError):
        connection.cursor()
    assert Clinic.objects.count() == 0  # MIGRATE_STRATEGY places directory on the reserved "central"
    with tenant_context_bind("tenant-1"):
        assert Clinic.objects.count() == 0  # still the reserved database, bound or not
    with tenant_context_bind("no-such-tenant"), pytest.raises(ConfigurationError, match="no-such-tenant"):
        Patient.objects.count()
    assert not Path(connections.settings["default"]["NAME"]).exists()


def test_threads_and_tasks_each_reach_their_own_tenant(site: TenantSite) -> None:
    migrate_tenants()

    def write(tenant: str) -> str:
        with tenant_context_bind(tenant):
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO patients_patient (name) VALUES (%s)", [f"by {tenant}"])
            name = str(connection.settings_dict["NAME"])
            connections["default"].close()
            return name

    with ThreadPoolExecutor(3) as pool:
        names = list(pool.map(write, ["tenant-1", "tenant-2", "tenant-3"] * 2))

    async def task(tenant: str) -> str:
        with tenant_context_bind(tenant):
            await asyncio.sleep(0.01)
            return await asyncio.to_thread(write, tenant)

    async def main() -> list[str]:
        return list(await asyncio.gather(*(task(t) for t in ["tenant-3", "tenant-2", "tenant-1"])))

    names += asyncio.run(main())
    assert names == [
        str(site.db(t).path)
        for t in ["tenant-1", "tenant-2", "tenant-3"] * 2 + ["tenant-3", "tenant-2", "tenant-1"]
    ]
    for t in ["tenant-1", "tenant-2", "tenant-3"]:
        assert site.db(t).query("SELECT name FROM patients_patient") == [(f"by {t}",)] * 3


def test_connections_are_kept_per_tenant_as_conn_max_age_says(site: TenantSite) -> None:
    site.databases[1].entry["CONN_MAX_AGE"] = 600
    site.write()
    migrate_tenants()

    def dbapi(tenant: str) -> Any:
        with tenant_context_bind(tenant):
            Patient.objects.count()
            return connection.connection

    first = dbapi("tenant-1"), dbapi("tenant-2")
    assert (dbapi("tenant-1"), dbapi("tenant-2")) == first  # reused within the thread
    request_finished.send(sender=None)  # end of a request: CONN_MAX_AGE 0 closes, 600 keeps
    assert dbapi("tenant-1") is not first[0]
    assert dbapi("tenant-2") is first[1]


def test_content_type_cache_never_carries_one_tenants_ids_into_another(site: TenantSite) -> None:
    from django.contrib.contenttypes.models import ContentType

    migrate_tenants()
    site.db("tenant-2").execute("UPDATE django_content_type SET id = id + 1000 WHERE model = 'patient'")
    ids = {}
    for t in ["tenant-1", "tenant-2", "tenant-1"]:
        with tenant_context_bind(t):
            ids[t] = ContentType.objects.get_for_model(Patient).id

    assert ids["tenant-2"] == ids["tenant-1"] + 1000


def test_template_alias_with_a_colon_is_its_own_alias(tmp_path: Path) -> None:
    """`x:central` used to be routed as `central` (the tenant got the other alias's tables)."""
    (tmp_path / "colonsite.py").write_text(
        "from trsite.settings import *\n"
        f"DATABASES = {{**DATABASES, 'x:central': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': "
        f"{str(tmp_path / 'tpl.sqlite3')!r}}}}}\n"
        f"TENANT_ROUTER_TENANT_CONFIG = {str(tmp_path / 'tenants.json')!r}\n"
        "TENANT_ROUTER_ORM_SETTINGS = {'django_orm': {'OPTIONS': {'RESERVED_CONN_ALIASES': ['central'],"
        " 'ROUTER_OPTS': {'MIGRATE_STRATEGY': 'colonsite.strategy'}}}}\n"
        "def strategy(router, db, app_label, **hints):\n"
        "    if db == 'central':\n"
        "        return app_label == 'directory'\n"
        "    if db == 'x:central':\n"
        "        return app_label == 'patients'\n"
        "    return app_label not in ('directory', 'patients')\n"
    )
    entry = {"default": {"NAME": "a.sqlite3"}, "x:central": {"NAME": "b.sqlite3"}}
    (tmp_path / "tenants.json").write_text(
        json.dumps({"tenant_config": {"t1": {"clinic": {"orm_config": {"django_orm": entry}}}}})
    )
    result = run(
        [sys.executable, "-m", "tenant_router_cli", "migrate", "--settings", "colonsite", "--jobs", "1"],
        tmp_path, env=clean_environment(tmp_path, TESTS, EXAMPLE),
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr

    def tables(name: str) -> set[str]:
        with sqlite3.connect(tmp_path / name) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    assert "patients_ward" in tables("b.sqlite3") and "directory_clinic" not in tables("b.sqlite3")
    assert "legacy_note" in tables("a.sqlite3") and "patients_ward" not in tables("a.sqlite3")
    with sqlite3.connect(tmp_path / "b.sqlite3") as conn:  # the data migration wrote where it was routed
        assert conn.execute("SELECT count(*) FROM patients_ward").fetchone() == (3,)
    assert not (tmp_path / "tpl.sqlite3").exists()


def test_manage_py_migrate_refuses_a_template_alias_and_migrates_a_reserved_one(tmp_path: Path) -> None:
    import shutil

    example = tmp_path / "clinic"
    shutil.copytree(
        ROOT / "examples" / "clinic", example, ignore=shutil.ignore_patterns("*.sqlite3", "__pycache__")
    )

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "manage.py", *args], example)

    refused = manage("migrate")
    central = manage("migrate", "--database", "central", "-v", "0")

    assert refused.returncode == 1
    assert "DATABASES['default'] is a tenant-router template" in refused.stderr
    assert "tenant-router migrate --settings clinic.settings" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (example / "var" / "template.sqlite3").exists()
    assert central.returncode == 0, central.stderr
    with sqlite3.connect(example / "var" / "central.sqlite3") as conn:
        assert ("directory_clinic",) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")


def test_historical_content_type_cache_is_emptied_between_databases(site: TenantSite) -> None:
    """Two tenants start from the same applied set (shared states, one historical ContentType manager)
    with different content-type ids: the second must not get the first one's ids."""
    assert site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1").exit_code == 0
    back = site.invoke(
        "migrate", "--settings", site.settings_module, "--orm", "django_orm", "--target", "legacy", "zero"
    )
    assert back.exit_code == 0, back.output
    with site.db("tenant-2").connect() as conn:  # same migrations applied, other ids
        conn.execute("UPDATE django_content_type SET id = id + 1000")
        conn.execute("UPDATE auth_permission SET content_type_id = content_type_id + 1000")

    result = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1")

    assert result.exit_code == ExitCode.OK, result.output
    for db in site.databases:
        assert "permission audit_note of note" in notes(db)
