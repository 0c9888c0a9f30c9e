"""Pre-flight on PostgreSQL: a tenant whose Django and Alembic tables share a database costs one connection."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.test.utils import override_settings
from support.paths import EXAMPLE
from support.servers import POSTGRES, require
from support.sites import TenantSite

from tenant_router_cli.exit_codes import ExitCode

BOTH_ORMS = {
    "django_orm": {
        "OPTIONS": {
            "RESERVED_CONN_ALIASES": ["central"],
            "ROUTER_OPTS": {"MIGRATE_STRATEGY": "clinic.routing.migrate_strategy"},
        }
    },
    "sqlalchemy_orm": {
        "OPTIONS": {
            "MIGRATION_ASST": {
                "CLASS": "tenant_router.orm_backends.sqlalchemy_orm.migration_asst.AlembicMigrationAsst",
                "OPTIONS": {"ALEMBIC_INI": str(EXAMPLE / "alembic.ini")},
            }
        },
    },
}


def sessions(names: list[str]) -> dict[str, int]:
    """pg_stat_database.sessions per database, once the statistics have settled."""
    conn = POSTGRES.admin()
    try:
        previous: dict[str, int] = {}
        for _ in range(40):
            cur = conn.cursor()
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT datname, sessions FROM pg_stat_database WHERE datname = ANY(%s)", (names,))
            now = dict(cur.fetchall())
            if now == previous:
                return now
            previous = now
            time.sleep(0.25)
        return previous
    finally:
        conn.close()


def test_one_connection_per_database_when_nothing_is_pending(tmp_path: Path) -> None:
    server = require(POSTGRES)
    with server.databases(3, prefix="trs") as names:
        tenants = {
            f"tenant-{i}": {
                "clinic": {
                    "orm_config": {
                        "django_orm": {"default": server.django_settings(name)},
                        "sqlalchemy_orm": {"default": {"URL": server.sqlalchemy_url(name)}},
                    }
                }
            }
            for i, name in enumerate(names, 1)
        }
        site = TenantSite(tmp_path, extra_tenants=tenants)
        overrides: dict[str, Any] = {
            "TENANT_ROUTER_TENANT_CONFIG": str(site.write()),
            "TENANT_ROUTER_ORM_SETTINGS": BOTH_ORMS,
            "SQLALCHEMY_DATABASES": {"default": {"URL": server.sqlalchemy_url("postgres")}},
        }
        with override_settings(**overrides):
            first = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "2")
            assert first.exit_code == ExitCode.OK, first.output
            before = sessions(names)
            second = site.invoke("migrate", "--settings", site.settings_module, "--jobs", "2", "--json")
            after = sessions(names)

    assert second.exit_code == ExitCode.OK
    report = json.loads(second.stdout.splitlines()[-1])
    assert report["counts"]["up_to_date"] == 7  # 3 tenants x 2 ORMs + the central database
    assert {name: after[name] - before[name] for name in names} == dict.fromkeys(names, 1)
