"""The seed's contract: custom assistants registered through TENANT_ROUTER_ORM_SETTINGS, and migrate_to_all()."""

from __future__ import annotations

import io
import json

import pytest
from django.test.utils import override_settings
from support.sites import TenantSite

from tenant_router import Selection, Status, migrate_tenants
from tenant_router.errors import TenantMigrationError
from tenant_router.utils import migrate_to_all
from tenant_router_cli.exit_codes import ExitCode

DJANGO_MANAGER = "tenant_router.orm_backends.django_orm.manager.DjangoOrmManager"


def seed_block(cls: str, options: dict) -> dict:
    """TENANT_ROUTER_ORM_SETTINGS exactly as the seed writes it."""
    return {
        "django_orm": {
            "MANAGER": DJANGO_MANAGER,
            "SETTINGS_KEY": "DATABASES",
            "OPTIONS": {"MIGRATION_ASST": {"CLASS": cls, "OPTIONS": options}},
        }
    }


def test_seed_custom_assistant_gets_its_options(site: TenantSite) -> None:
    marker = site.tmp / "marker.json"
    with override_settings(
        TENANT_ROUTER_ORM_SETTINGS=seed_block(
            "custom_assts.CustomMigrationAsst", {"marker": str(marker), "n": 3}
        )
    ):
        result = site.invoke("migrate", "--settings", site.settings_module, "--json")

    assert result.exit_code == ExitCode.OK, result.output
    seen = json.loads(marker.read_text())
    assert seen["options"] == {"marker": str(marker), "n": 3}
    assert seen["tenants"] == ["tenant-1", "tenant-2", "tenant-3"]
    report = json.loads(result.stdout.splitlines()[-1])
    assert [(r["orm"], r["tenant"], r["status"]) for r in report["results"]] == [
        ("django_orm", None, "migrated")
    ]


def test_failing_custom_assistant_is_a_failed_row(site: TenantSite) -> None:
    with override_settings(TENANT_ROUTER_ORM_SETTINGS=seed_block("custom_assts.FailingMigrationAsst", {})):
        result = site.invoke("migrate", "--settings", site.settings_module)

    assert result.exit_code == ExitCode.FAILED
    assert "RuntimeError: custom assistant exploded" in result.stdout


def test_per_tenant_assistant_gets_rows_and_isolation(site: TenantSite) -> None:
    with override_settings(
        TENANT_ROUTER_ORM_SETTINGS=seed_block("custom_assts.PerTenantAsst", {"folder": str(site.tmp)})
    ):
        report = migrate_tenants()

    statuses = {r.tenant: r.status for r in report.rows()}
    assert statuses == {"tenant-1": Status.MIGRATED, "tenant-2": Status.FAILED, "tenant-3": Status.MIGRATED}
    assert report.failures[0].error == "ValueError: cannot migrate tenant-2"
    assert (site.tmp / "tenant-3").read_text() == "done"


def test_assistant_rejecting_its_options_is_a_configuration_error(site: TenantSite) -> None:
    cls = "tenant_router.orm_backends.django_orm.migration_asst.DjangoOrmMigrationAsst"
    with override_settings(TENANT_ROUTER_ORM_SETTINGS=seed_block(cls, {"verbosity": "loud"})):
        result = site.invoke("migrate", "--settings", site.settings_module)

    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "DjangoOrmMigrationAsst does not accept its OPTIONS: verbosity must be an int" in result.stderr


def test_migrate_to_all_prints_and_returns_the_report(site: TenantSite) -> None:
    out = io.StringIO()

    report = migrate_to_all(stdout=out)

    assert report.ok
    assert [r.status for r in report.rows() if r.tenant] == [Status.MIGRATED] * 3
    assert "Summary: 4 database(s)" in out.getvalue()


def test_migrate_to_all_raises_naming_every_failed_tenant(site: TenantSite) -> None:
    site.databases[0].entry["NAME"] = str(site.tmp / "missing" / "a.sqlite3")
    site.databases[2].entry["NAME"] = str(site.tmp / "missing" / "c.sqlite3")
    site.write()

    with pytest.raises(TenantMigrationError) as info:
        migrate_to_all(stdout=io.StringIO())

    assert info.value.failures == ["django_orm tenant-1/default", "django_orm tenant-3/default"]
    assert "unable to open database file" in str(info.value)
    assert site.databases[1].table_names()  # the healthy tenant was migrated all the same


def test_events_arrive_in_order(site: TenantSite) -> None:
    events: list = []
    migrate_tenants(selection=Selection(tenants=("tenant-1",)), on_event=events.append)

    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "tenant_finished"
    tenant_kinds = [e.kind for e in events if getattr(e, "tenant", None) == "tenant-1"]
    assert tenant_kinds[:2] == ["tenant_started", "tenant_planned"]
    assert tenant_kinds.count("step_started") == tenant_kinds.count("step_applied") > 0
