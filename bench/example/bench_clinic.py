"""The clinic example's settings, pointed at the benchmark's tenant databases (bench/example_run.py).

BENCH_BACKEND (sqlite or postgres) and BENCH_TENANT_CONFIG come from the harness. BENCH_ALL_TENANTS=1
makes it a plain multi-database Django project for the `manage.py migrate --database` loop: every tenant
is an alias `t<i>`, and BenchAliasRouter stands in for tenant-router's router.
"""

import json
import os
from pathlib import Path

from clinic.settings import *  # noqa: F403
from clinic.settings import DATABASES, INSTALLED_APPS

WORK = Path(__file__).resolve().parent.parent / "work"
BACKEND = os.environ.get("BENCH_BACKEND", "sqlite")
PG = {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "PORT": "5432", "USER": "postgres"}

if BACKEND == "postgres":
    DATABASES = {"default": {**PG, "NAME": "benchex_template"}, "central": {**PG, "NAME": "benchex_central"}}
    SQLALCHEMY_DATABASES = {
        "default": {
            "URL": "postgresql+psycopg://postgres@127.0.0.1:5432/benchex_template",
            "ENGINE_OPTIONS": {},
        }
    }
else:
    DATABASES = {
        "default": {**DATABASES["default"], "NAME": WORK / "template-never-used.sqlite3"},
        "central": {**DATABASES["central"], "NAME": WORK / "example-sqlite" / "central.sqlite3"},
    }
    SQLALCHEMY_DATABASES = {"default": {"URL": f"sqlite:///{WORK / 'template-never-used.sqlite3'}"}}
TENANT_ROUTER_TENANT_CONFIG = os.environ.get("BENCH_TENANT_CONFIG", str(WORK / "example-tenant-config.json"))

if os.environ.get("BENCH_ALL_TENANTS") == "1":
    with open(TENANT_ROUTER_TENANT_CONFIG, encoding="utf-8") as fh:
        _tenants = json.load(fh)["tenant_config"]
    for _tenant, _entry in _tenants.items():
        _alias = _tenant.replace("tenant-", "t")
        DATABASES[_alias] = {
            **DATABASES["default"],
            **_entry["clinic"]["orm_config"]["django_orm"]["default"],
        }
    DATABASE_ROUTERS = ["bench_clinic.BenchAliasRouter"]
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "tenant_router"]


class BenchAliasRouter:
    """What a project without tenant-router writes: queries go to $BENCH_MIGRATE_ALIAS (set per tenant)."""

    def db_for_read(self, model: object, **hints: object) -> str | None:
        """The alias being migrated, so data migrations without `.using()` reach it."""
        return os.environ.get("BENCH_MIGRATE_ALIAS")

    db_for_write = db_for_read

    def allow_migrate(self, db: str, app_label: str, **hints: object) -> bool:
        """The example's own strategy, asked about "default" for every tenant alias."""
        from clinic.routing import migrate_strategy

        return bool(migrate_strategy(self, "central" if db == "central" else "default", app_label, **hints))
