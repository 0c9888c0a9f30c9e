"""Issue 20 items 17 and 11 (first half): drift on a database two ORMs share, and hosts named as configured.

17: a tenant whose Django and Alembic tables live in one physical database: each ORM's tables are the
other's business, not "outside their migrations"; a table no selected ORM owns still is.
11: a message that names a server names it as the configuration does (127.0.0.1, not localhost).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.test.utils import override_settings
from support.servers import POSTGRES, require
from support.sites import server_site
from support.sqlalchemy_sites import execute, make_site

from tenant_router_cli.exit_codes import ExitCode


def shared_site(root: Path):  # type: ignore[no-untyped-def]
    """Two tenants whose Django and SQLAlchemy databases are one SQLite file each, migrated."""
    urls = {t: f"sqlite:///{root / f'django-{t}.sqlite3'}" for t in ("tenant-1", "tenant-2")}
    site = make_site(root, urls)
    migrated = site.run("migrate", "--no-journal", "--jobs", "1")
    assert migrated.returncode == ExitCode.OK, migrated.stdout + migrated.stderr
    return site, urls


def notes_of(report: dict) -> dict[str, dict[str, list[str]]]:  # type: ignore[type-arg]
    """orm -> tenant -> tables noted as outside the migrations."""
    return {
        orm["orm"]: {
            d["tenant"]: sorted(n["table"] for n in d["notes"]) for g in orm["groups"] for d in g["databases"]
        }
        for orm in report["orms"]
    }


def test_tables_of_the_other_orm_sharing_the_database_are_not_outside(tmp_path: Path) -> None:
    site, urls = shared_site(tmp_path / "site")
    execute(urls["tenant-2"], "CREATE TABLE audit_extra (id INTEGER PRIMARY KEY)")  # nobody's

    result = site.run("drift", "--json")
    plain = site.run("drift")
    strict = site.run("drift", "--strict", "--json")

    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [o["summary"] for o in report["orms"]] == ["2 match their migrations"] * 2
    assert notes_of(report) == {
        "django_orm": {"tenant-1": [], "tenant-2": ["audit_extra"]},
        "sqlalchemy_orm": {"tenant-1": [], "tenant-2": ["audit_extra"]},
    }
    assert "alembic_version" not in plain.stdout and "django_migrations" not in plain.stdout
    assert plain.returncode == ExitCode.OK, plain.stdout + plain.stderr
    # --strict: the table nobody owns is drift, the other ORM's tables are not
    assert strict.returncode == ExitCode.DRIFT, strict.stdout + strict.stderr
    drifted = {
        (o["orm"], d["tenant"]): [x["table"] for x in d["differences"]]
        for o in json.loads(strict.stdout)["orms"]
        for g in o["groups"]
        if g["state"] == "drifted"
        for d in g["databases"]
    }
    assert drifted == {
        ("django_orm", "tenant-2"): ["audit_extra"],
        ("sqlalchemy_orm", "tenant-2"): ["audit_extra"],
    }


def test_an_orm_left_out_of_the_selection_owns_nothing(tmp_path: Path) -> None:
    """`--orm django_orm`: the Alembic tables belong to no selected ORM, so they are noted as before."""
    site, _ = shared_site(tmp_path / "site")

    result = site.run("drift", "--orm", "django_orm", "--json")

    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    noted = notes_of(json.loads(result.stdout))["django_orm"]
    assert all("alembic_version" in tables and "ledger" in " ".join(tables) for tables in noted.values()), (
        noted
    )


@pytest.fixture
def limited_role() -> Iterator[str]:
    """A PostgreSQL login without CREATEDB; dropped afterwards."""
    server = require(POSTGRES)
    role = f"tr_i20_{uuid.uuid4().hex[:8]}"
    server.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB PASSWORD 's3cret-i20'")
    try:
        yield role
    finally:
        server.execute(f"DROP OWNED BY {role}")
        server.execute(f"DROP ROLE IF EXISTS {role}")


def test_messages_name_the_host_as_configured(tmp_path: Path, limited_role: str) -> None:
    server = require(POSTGRES)
    host, port = server.parts["host"], server.parts["port"]
    assert host == "127.0.0.1", "this test needs the server configured by address"
    with server.databases(1, prefix="tri20h") as (name,):
        site = server_site(tmp_path, server, [name])
        with override_settings(TENANT_ROUTER_TENANT_CONFIG=str(site.write())):
            migrate = ("migrate", "--orm", "django_orm", "--no-journal", "--jobs", "1")
            assert site.invoke(*migrate, "--settings", site.settings_module).exit_code == ExitCode.OK
            db = site.databases[0]
            db.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {limited_role}")
            db.entry.update(USER=limited_role, PASSWORD="s3cret-i20")

            refused = site.invoke("drift", "--settings", site.settings_module, "--tenant", "tenant-1")

            assert refused.exit_code == ExitCode.CONFIG, refused.output
            assert f"on postgresql://{limited_role}@{host}:{port} to build" in refused.stderr, refused.stderr
            assert "localhost" not in refused.stderr and "s3cret-i20" not in refused.output

            # creating a database as that role: the server is named as configured there too
            site.extra_tenants["tenant-new"] = {
                "clinic": {
                    "orm_config": {
                        "django_orm": {
                            "default": {**db.entry, "NAME": f"{name}_new"},
                        }
                    }
                }
            }
            created = site.invoke(
                "create", "tenant-new", "--settings", site.settings_module, "--no-journal", "--jobs", "1"
            )
            assert f"postgresql://{limited_role}@{host}:{port}" in created.output, created.output
            assert "@localhost" not in created.output and "s3cret-i20" not in created.output
        connections.close_all()
