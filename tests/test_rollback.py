"""--target: roll back and forward again, refuse irreversible migrations, and Alembic downgrades."""

from __future__ import annotations

from typing import Any

import pytest
from support.describe import django_rows, schema, url_for
from support.sites import TenantSite

from tenant_router_cli.exit_codes import ExitCode


def migrate(site: TenantSite, *args: str) -> Any:
    return site.invoke("migrate", "--settings", site.settings_module, "--no-journal", *args)


def snapshot(site: TenantSite) -> list[Any]:
    urls = [url_for({"ENGINE": "django.db.backends.sqlite3", "NAME": str(db.path)}) for db in site.databases]
    return [(schema(u), django_rows(u)) for u in urls]


def test_rolling_back_and_forward_again_gives_the_same_schema(site: TenantSite) -> None:
    assert migrate(site).exit_code == ExitCode.OK
    before = snapshot(site)

    back = migrate(site, "--orm", "django_orm", "--target", "patients", "0001")

    assert back.exit_code == ExitCode.OK, back.output
    assert back.stdout.count("migrated, rolled back 2 to patients.0001_initial") == 3
    for db in site.databases:
        assert ("patients", "0002_seed_wards") not in db.applied()
        assert db.query("SELECT count(*) FROM patients_ward") == [(0,)]  # the data migration's reverse ran
        indexes = db.query("SELECT name FROM sqlite_master WHERE type='index' AND name='visit_patient_at'")
        assert indexes == []
    assert migrate(site).exit_code == ExitCode.OK
    assert snapshot(site) == before


def test_rollback_to_zero_and_plan_shows_backwards_steps(site: TenantSite) -> None:
    migrate(site)

    plan = migrate(site, "--orm", "django_orm", "--target", "patients", "zero", "--plan")
    assert plan.exit_code == ExitCode.OK
    assert "patients.0003_visit_index (backwards)" in plan.stdout
    assert all("patients_patient" in db.table_names() for db in site.databases)  # --plan touched nothing

    result = migrate(site, "--orm", "django_orm", "--target", "patients", "zero", "--tenant", "tenant-1")
    assert result.exit_code == ExitCode.OK, result.output
    assert "patients_patient" not in site.db("tenant-1").table_names()
    assert "patients_patient" in site.db("tenant-2").table_names()


def test_an_irreversible_migration_is_refused_before_anything_is_touched(site: TenantSite) -> None:
    migrate(site)
    before = snapshot(site)

    result = migrate(site, "--orm", "django_orm", "--target", "killer", "zero")

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "migration killer.0001_kill_switch (backwards) is irreversible" in result.stderr
    assert "Nothing was touched" in result.stderr
    assert snapshot(site) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--orm", "django_orm", "--target", "patients"], "takes an app label and a migration name"),
        (["--orm", "django_orm", "--target", "nope", "0001"], "app 'nope' has no migrations"),
        (
            ["--orm", "django_orm", "--target", "patients", "0009"],
            "no migration of 'patients' matches '0009'",
        ),
        (["0001"], "a migration name goes after --target APP_LABEL"),
    ],
)
def test_bad_targets_are_usage_errors(site: TenantSite, args: list[str], message: str) -> None:
    result = migrate(site, *args)

    assert result.exit_code == ExitCode.USAGE, result.output
    assert message in result.stderr
    assert not any(db.table_names() for db in site.databases)
