"""The README's signup view, as a user writes it: a running process adds a tenant to the tenant
configuration, provisions its database and binds it at once (no restart), the tenants it served before
untouched."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection

from tenant_router import Status, provision_tenant, tenant_context_bind


def test_a_tenant_added_while_the_process_runs_is_provisioned_and_bound(site: Any) -> None:
    assert provision_tenant("tenant-1").ok
    with tenant_context_bind("tenant-1"), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations")
        before = cursor.fetchone()[0]

    document = json.loads(site.config_path.read_text())  # the signup view adds the new tenant
    path = site.tmp / "signup-4.sqlite3"
    entry = {"clinic": {"orm_config": {"django_orm": {"default": {"NAME": path.name}}}}}
    document["tenant_config"]["tenant-new"] = entry
    site.config_path.write_text(json.dumps(document))

    report = provision_tenant("tenant-new")

    (row,) = [r for r in report.rows() if r.tenant]
    assert (row.tenant, row.status) == ("tenant-new", Status.CREATED), row
    with tenant_context_bind("tenant-new"), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations")
        assert cursor.fetchone()[0] == before
        assert connection.settings_dict["NAME"] == str(path)
    with tenant_context_bind("tenant-1"), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations")
        assert cursor.fetchone()[0] == before


def test_create_and_a_signup_view_leave_the_reserved_database_alone(site: Any) -> None:
    """A signup must not apply the central database's new migrations in a web request: `create` and
    provision_tenant() make tenant databases and leave reserved ones as they are (they said 'migrated')."""
    from pathlib import Path

    from django.conf import settings

    central = Path(settings.DATABASES["central"]["NAME"])
    before = _applied(central)

    result = site.invoke("create", "tenant-1", "--settings", site.settings_module, "--json")
    report = provision_tenant("tenant-2")

    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.stdout.splitlines()[-1])["results"] if r["tenant"] is None]
    assert [(r["alias"], r["status"]) for r in rows] == [("central", "skipped")], rows
    assert "reserved: left as it is" in rows[0]["reason"]
    assert [(r.alias, r.status) for r in report.rows() if r.tenant is None] == [("central", Status.SKIPPED)]
    assert _applied(central) == before  # not one migration applied to it
    assert site.db("tenant-1").applied() and site.db("tenant-2").applied()


def test_an_unknown_tenant_bound_again_and_again_does_not_reread_an_unchanged_configuration(
    site: Any,
) -> None:
    """Re-reading is for a configuration that changed: a web app binding an unknown id per request must
    not parse the whole tenant document each time (it did)."""
    import pytest

    from tenant_router.errors import ConfigurationError
    from tenant_router.orm_backends.django_orm.template_aliases import runtime

    assert provision_tenant("tenant-1").ok
    with tenant_context_bind("tenant-1"), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    read = runtime()
    for _ in range(3):
        with tenant_context_bind("nobody"), pytest.raises(ConfigurationError, match="not in the tenant"):
            connection.cursor()
    assert runtime() is read  # not read again: the file did not change


def _applied(path: Any) -> list[tuple[str, str]]:
    """The central database's django_migrations rows (none when it has no such table yet)."""
    import sqlite3

    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'django_migrations'").fetchall():
            return []
        return sorted(conn.execute("SELECT app, name FROM django_migrations").fetchall())
    finally:
        conn.close()
