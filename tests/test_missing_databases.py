"""A tenant database that does not exist is `missing`: its own status in status, migrate, --check and the
journal, with exit code 8 when nothing else went wrong, and --only-failed picks it up once it exists."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenant_router_cli.exit_codes import ExitCode


def _missing_site(server: Any, server_site_factory: Any) -> Any:
    """Three tenants on `server`; tenant-2's database is dropped (it does not exist)."""
    site = server_site_factory(3)
    server.drop_database(site.db("tenant-2").name)
    return site


def test_status_and_check_say_missing_not_unreachable(server: Any, server_site_factory: Any) -> None:
    site = _missing_site(server, server_site_factory)
    assert site.invoke("migrate", "--settings", site.settings_module).exit_code == ExitCode.MISSING

    result = site.invoke("status", "--settings", site.settings_module, "--json")
    found = json.loads(result.stdout)
    assert result.exit_code == ExitCode.MISSING, result.output
    assert found["missing"] is True and found["unreachable"] is False
    groups = {g["state"]: g for g in found["orms"][0]["groups"]}
    assert [d["tenant"] for d in groups["missing"]["databases"]] == ["tenant-2"]
    assert {d["tenant"] for d in groups["at_head"]["databases"]} >= {"tenant-1", "tenant-3"}

    plain = site.invoke("status", "--settings", site.settings_module, "--tenants")
    assert "at head, 1 missing" in plain.stdout, plain.stdout
    assert "does not exist" in plain.stdout

    check = site.invoke("migrate", "--settings", site.settings_module, "--check")
    assert check.exit_code == ExitCode.MISSING, check.output
    assert "1 missing: tenant-2/default" in check.stdout


def test_migrate_migrates_the_others_reports_missing_and_only_failed_picks_it_up(
    server: Any, server_site_factory: Any
) -> None:
    site = _missing_site(server, server_site_factory)

    result = site.invoke("migrate", "--settings", site.settings_module, "--json")

    assert result.exit_code == ExitCode.MISSING, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    rows = {r["tenant"]: r for r in report["results"] if r["tenant"]}
    assert rows["tenant-2"]["status"] == "missing"
    assert "does not exist" in rows["tenant-2"]["error"]
    assert rows["tenant-1"]["status"] == rows["tenant-3"]["status"] == "migrated"
    assert site.db("tenant-1").applied() and site.db("tenant-3").applied()

    plain = site.invoke("migrate", "--settings", site.settings_module)
    assert plain.exit_code == ExitCode.MISSING
    assert "Missing: 1 database(s) do not exist" in plain.stdout, plain.stdout

    server.create_database(site.db("tenant-2").name)
    again = site.invoke("migrate", "--settings", site.settings_module, "--json", "--only-failed=last")
    assert again.exit_code == ExitCode.OK, again.output
    report = json.loads(again.stdout.splitlines()[-1])
    assert [(r["tenant"], r["status"]) for r in report["results"] if r["tenant"]] == [
        ("tenant-2", "migrated")
    ]


def test_a_failure_beside_a_missing_database_is_still_exit_1(server: Any, server_site_factory: Any) -> None:
    site = _missing_site(server, server_site_factory)
    site.db("tenant-3").execute("CREATE TABLE django_content_type (id integer)")  # migrate fails on it

    result = site.invoke("migrate", "--settings", site.settings_module, "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    statuses = {r["tenant"]: r["status"] for r in json.loads(result.stdout.splitlines()[-1])["results"]}
    assert statuses["tenant-2"] == "missing" and statuses["tenant-3"] == "failed"


# -- creating them ----------------------------------------------------------------------------------
def _exists(server: Any, name: str) -> bool:
    if server.kind == "postgres":
        sql = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
    else:
        sql = f"SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'"
    with server.admin() as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return bool(cursor.fetchall())


def test_create_makes_only_the_missing_database_and_leaves_the_others_as_they_are(
    server: Any, server_site_factory: Any, template_prefix: str
) -> None:
    site = _missing_site(server, server_site_factory)

    result = site.invoke(
        "create", "tenant-1", "--tenant", "tenant-2", "--settings", site.settings_module, "--json"
    )

    assert result.exit_code == ExitCode.OK, result.output
    rows = {r["tenant"]: r for r in json.loads(result.stdout.splitlines()[-1])["results"] if r["tenant"]}
    assert rows["tenant-2"]["status"] == "created"
    assert rows["tenant-2"]["reason"].startswith(f"copied from template {template_prefix}_")
    assert rows["tenant-1"]["status"] == "skipped" and "exists" in rows["tenant-1"]["reason"]
    assert "tenant-3" not in rows
    assert site.db("tenant-2").applied()
    assert not site.db("tenant-1").applied() and not site.db("tenant-1").table_names()

    again = site.invoke("create", "tenant-2", "--settings", site.settings_module, "--json")
    assert again.exit_code == ExitCode.OK, again.output
    rows = {r["tenant"]: r for r in json.loads(again.stdout.splitlines()[-1])["results"] if r["tenant"]}
    assert rows["tenant-2"]["status"] == "up_to_date"


def test_migrate_create_missing_creates_and_migrates_it_with_the_rest(
    server: Any, server_site_factory: Any
) -> None:
    site = _missing_site(server, server_site_factory)

    result = site.invoke("migrate", "--settings", site.settings_module, "--create-missing", "--jobs", "2")

    assert result.exit_code == ExitCode.OK, result.output
    assert all(db.applied() for db in site.databases)
    assert "Missing" not in result.stdout


def test_a_new_database_whose_migration_fails_is_dropped_again(server: Any, server_site_factory: Any) -> None:
    if server.kind != "postgres":
        pytest.skip("the failure is made with PostgreSQL's search_path")
    site = server_site_factory(2)
    doomed = site.db("tenant-2")
    server.drop_database(doomed.name)
    doomed.entry["OPTIONS"] = {"options": "-c search_path=tr_nowhere"}  # no schema to create tables in

    result = site.invoke("create", "tenant-2", "--settings", site.settings_module, "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    (row,) = [r for r in json.loads(result.stdout.splitlines()[-1])["results"] if r["tenant"]]
    assert row["status"] == "failed"
    assert "the new database was dropped again" in row["error"], row["error"]
    assert not _exists(server, doomed.name)


def test_a_signup_view_provisions_from_several_threads_at_once(server: Any, server_site_factory: Any) -> None:
    """provision_tenant() from four threads: each missing tenant is created once and at head."""
    from concurrent.futures import ThreadPoolExecutor

    from tenant_router import SelectionError, Status, provision_tenant

    site = server_site_factory(4)
    for db in site.databases:
        server.drop_database(db.name)
    site.write()

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda db: provision_tenant(db.tenant, wait=120), site.databases))

    for db, report in zip(site.databases, reports, strict=True):
        (row,) = [r for r in report.rows() if r.tenant]
        assert (row.tenant, row.status) == (db.tenant, Status.CREATED)
        assert db.applied()
    with pytest.raises(SelectionError, match="Unknown tenant"):
        provision_tenant("tenant-*")


def test_a_role_without_createdb_gets_one_line_and_nothing_else_is_touched(
    server: Any, server_site_factory: Any
) -> None:
    import uuid

    if server.kind != "postgres":
        pytest.skip("CREATEDB is PostgreSQL's right")
    site = _missing_site(server, server_site_factory)
    role = f"tr_nocreate_{uuid.uuid4().hex[:8]}"
    server.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'p@ss:w/rd%'")
    try:
        site.db("tenant-2").entry.update(USER=role, PASSWORD="p@ss:w/rd%")
        result = site.invoke("migrate", "--settings", site.settings_module, "--create-missing", "--json")
    finally:
        server.execute(f"DROP ROLE IF EXISTS {role}")

    assert result.exit_code == ExitCode.FAILED, result.output
    statuses = {r["tenant"]: r for r in json.loads(result.stdout.splitlines()[-1])["results"] if r["tenant"]}
    assert statuses["tenant-1"]["status"] == statuses["tenant-3"]["status"] == "migrated"
    error = statuses["tenant-2"]["error"]
    assert statuses["tenant-2"]["status"] == "failed" and "could not create the database" in error
    assert "CREATEDB" in error
    assert "\n" not in error and "p@ss" not in result.output
    assert not _exists(server, site.db("tenant-2").name)


def test_two_tenants_naming_one_missing_database_get_neither_created(
    server: Any, server_site_factory: Any
) -> None:
    site = _missing_site(server, server_site_factory)
    site.db("tenant-3").entry.update(NAME=site.db("tenant-2").name)  # a copy-paste slip in the config

    result = site.invoke("create", "--tenant", "tenant-*", "--settings", site.settings_module, "--json")

    assert result.exit_code == ExitCode.FAILED, result.output
    rows = {r["tenant"]: r for r in json.loads(result.stdout.splitlines()[-1])["results"] if r["tenant"]}
    for tenant in ("tenant-2", "tenant-3"):
        assert rows[tenant]["status"] == "failed", rows[tenant]
        assert "name the same database" in rows[tenant]["error"]
    assert not _exists(server, site.db("tenant-2").name)


def test_create_on_sqlite_makes_the_file_of_the_named_tenant_only(site: Any) -> None:
    site.db("tenant-2").path.write_bytes(b"")  # exists (empty): left as it is

    result = site.invoke("create", "tenant-1", "tenant-2", "--settings", site.settings_module, "--json")

    assert result.exit_code == ExitCode.OK, result.output
    rows = {r["tenant"]: r for r in json.loads(result.stdout.splitlines()[-1])["results"] if r["tenant"]}
    assert rows["tenant-1"]["status"] == "created" and site.db("tenant-1").applied()  # a template copy
    assert rows["tenant-2"]["status"] == "skipped" and site.db("tenant-2").path.stat().st_size == 0
    assert not site.db("tenant-3").path.exists()


# -- review mends -------------------------------------------------------------------------------------
def test_a_bad_template_prefix_stops_only_a_run_that_creates_and_before_anything(site: Any) -> None:
    from django.test.utils import override_settings

    with override_settings(TENANT_ROUTER_TEMPLATE_PREFIX="bad prefix;"):
        plain = site.invoke("migrate", "--settings", site.settings_module)
        assert plain.exit_code == ExitCode.OK, plain.output  # it copies no template: the prefix is not read
        for db in site.databases:
            db.path.unlink()
        creating = site.invoke("migrate", "--settings", site.settings_module, "--create-missing")

    assert creating.exit_code == ExitCode.CONFIG, creating.output
    assert "TENANT_ROUTER_TEMPLATE_PREFIX" in creating.stderr and "Traceback" not in creating.output
    assert not any(db.path.exists() for db in site.databases)  # nothing touched


def test_templates_names_a_server_it_cannot_read_in_one_line(server: Any, server_site_factory: Any) -> None:
    site = server_site_factory(1)
    entry = {**server.django_settings("tr_nowhere"), "PORT": "1"}
    site.extra_tenants["tenant-far"] = {"clinic": {"orm_config": {"django_orm": {"default": entry}}}}

    result = site.invoke("templates", "--settings", site.settings_module)

    assert result.exit_code == ExitCode.FAILED, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot read the templates of ") and ":1" in line, line
    assert "Traceback" not in result.output


def test_a_template_that_could_not_be_used_is_said_above_the_live_view() -> None:
    from support.terminal import terminal, text_of

    from tenant_router import RunStarted, TenantNoted
    from tenant_router_cli.live import LiveProgress

    output = terminal(100, 30)
    with LiveProgress(output) as live:
        live(RunStarted(1, ("django_orm",)))
        live(
            TenantNoted(
                "django_orm", "t\x1b[31m1", "default", "not copied from a template (busy): migrated instead"
            )
        )

    shown = text_of(output.out)
    assert "django_orm t\\x1b[31m1/default: not copied from a template (busy): migrated instead" in shown
