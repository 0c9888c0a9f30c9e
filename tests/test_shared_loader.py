"""Databases that start alike share one migration graph: the checks Django runs per database still hold."""

from __future__ import annotations

from support.sites import TenantSite

from tenant_router_cli.exit_codes import ExitCode


def migrate(site: TenantSite, *args: str):  # type: ignore[no-untyped-def]
    return site.invoke("migrate", "--settings", site.settings_module, "--jobs", "1", *args)


def test_inconsistent_history_fails_every_such_tenant_not_just_the_first(site: TenantSite) -> None:
    assert migrate(site).exit_code == ExitCode.OK
    # tenant-2 and tenant-3 now claim 0002 without the 0001 it depends on (the same applied rows in both).
    for db in site.databases[1:]:
        db.execute("DELETE FROM django_migrations WHERE app = 'patients' AND name = '0001_initial'")
    first = site.databases[0]  # one migration behind, consistent
    first.execute("DELETE FROM django_migrations WHERE app = 'patients' AND name = '0003_visit_index'")
    first.execute("DROP INDEX visit_patient_at")

    result = migrate(site)

    assert result.exit_code == ExitCode.FAILED, result.output
    for tenant in ("tenant-2", "tenant-3"):
        line = next(row for row in result.stdout.splitlines() if f"{tenant}/default: FAILED" in row)
        assert "is applied before its dependency patients.0001_initial" in line, line
    assert "tenant-1/default: migrated" in result.stdout
    assert ("patients", "0003_visit_index") in first.applied()
