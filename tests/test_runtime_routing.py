"""tenant_context_bind() at run time: queries reach the bound tenant's database, per thread and task."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from django.db import connections
from patients.models import Patient, Ward
from support.sites import TenantSite

from tenant_router import Selection, Status, current_tenant, migrate_tenants, tenant_context_bind


def test_bound_tenant_reads_and_writes_its_own_database(site: TenantSite) -> None:
    migrate_tenants()

    with tenant_context_bind("tenant-2"):
        Patient.objects.create(name="Ada")
        assert Ward.objects.count() == 3
    with tenant_context_bind("tenant-1"):
        assert Patient.objects.count() == 0

    assert site.db("tenant-2").query("SELECT name FROM patients_patient") == [("Ada",)]
    assert site.db("tenant-1").query("SELECT name FROM patients_patient") == []
    connections.close_all()


def test_bindings_nest_and_restore(site: TenantSite) -> None:
    assert current_tenant() is None
    with tenant_context_bind("a"):
        with tenant_context_bind("b"):
            assert current_tenant() == "b"
        assert current_tenant() == "a"
    assert current_tenant() is None


def test_bindings_are_isolated_across_threads_and_tasks(site: TenantSite) -> None:
    def in_thread(t: str) -> str | None:
        with tenant_context_bind(t):
            return current_tenant()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(in_thread, ["t1", "t2", "t3", "t4"])) == ["t1", "t2", "t3", "t4"]

    async def task(t: str) -> str | None:
        with tenant_context_bind(t):
            await asyncio.sleep(0.01)
            return current_tenant()

    async def main() -> list[str | None]:
        return list(await asyncio.gather(*(task(f"x{i}") for i in range(5))))

    assert asyncio.run(main()) == [f"x{i}" for i in range(5)]


def test_migration_never_reuses_a_connection_an_older_configuration_registered(
    site: TenantSite, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from support.sites import activate as _activate
    from support.sites import sqlite_site

    migrate_tenants()
    with tenant_context_bind("tenant-2"):
        Ward.objects.count()  # registers tenant-2's database for run-time routing
    fresh = sqlite_site(tmp_path / "fresh")
    (tmp_path / "fresh").mkdir()
    for active in _activate(fresh):  # same tenant ids, new databases
        report = migrate_tenants(selection=Selection(tenants=("tenant-2",)))
        assert [r.status for r in report.rows() if r.tenant] == [Status.MIGRATED]
        assert "patients_ward" in active.db("tenant-2").table_names()
    connections.close_all()
