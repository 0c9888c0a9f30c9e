"""A database entry's "CREATE" object decides how `create` makes the tenant's database: PostgreSQL
ENCODING/LC_COLLATE and OWNER, MariaDB CHARACTER SET/COLLATE; the template is built with the same encoding.
A bad "CREATE" is one configuration line (exit 3) before anything is touched."""

from __future__ import annotations

import json
import uuid
from typing import Any

from support.servers import POSTGRES

from tenant_router_cli.exit_codes import ExitCode


def _created(site: Any, *tenants: str) -> dict[str, Any]:
    result = site.invoke("create", *tenants, "--settings", site.settings_module, "--json")
    assert result.exit_code == ExitCode.OK, result.output
    return {r["tenant"]: r for r in json.loads(result.stdout.splitlines()[-1])["results"] if r["tenant"]}


def test_create_applies_the_entry_s_encoding_collation_and_owner(
    server: Any, server_site_factory: Any
) -> None:
    site = server_site_factory(2)
    role = f"trp_owner_{uuid.uuid4().hex[:8]}"
    if server.kind == "postgres":
        options = {"ENCODING": "LATIN1", "COLLATION": "C", "OWNER": role}
        POSTGRES.execute(f"CREATE ROLE {role} NOLOGIN")
    else:
        options = {"ENCODING": "latin1", "COLLATION": "latin1_bin"}
    for db in site.databases:
        server.drop_database(db.name)
        db.entry["CREATE"] = options
    try:
        rows = _created(site, "tenant-1")  # copied from a template built with these options
        assert rows["tenant-1"]["status"] == "created", rows
        rows = _created(site, "tenant-2", "--no-template")  # made empty with them, then migrated
        assert rows["tenant-2"]["status"] == "migrated", rows
        for db in site.databases:
            if server.kind == "postgres":
                found = db.query(
                    "SELECT pg_encoding_to_char(encoding), datcollate, pg_get_userbyid(datdba)"
                    " FROM pg_database WHERE datname = current_database()"
                )
                assert found == [("LATIN1", "C", role)], (db.tenant, found)
            else:
                found = db.query("SELECT @@character_set_database, @@collation_database")
                assert found == [("latin1", "latin1_bin")], (db.tenant, found)
            assert db.applied()
    finally:
        for db in site.databases:
            server.drop_database(db.name)
        if server.kind == "postgres":
            POSTGRES.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_bad_create_object_is_one_configuration_line(site: Any) -> None:
    site.db("tenant-1").entry["CREATE"] = {"ENCODNG": "UTF8"}

    result = site.invoke("create", "tenant-1", "--settings", site.settings_module)

    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "tenant 'tenant-1'" in result.stderr and "unknown key 'ENCODNG'" in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert not site.db("tenant-1").path.exists()  # nothing touched
