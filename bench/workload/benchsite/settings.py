"""Settings of the benchmark workload: one physical database per tenant holds both ORMs' tables.

The harness sets BENCH_BACKEND (sqlite or postgres) and BENCH_TENANT_CONFIG (a JSON file it writes).
BENCH_ALL_TENANTS=1 turns it into a plain multi-database Django project for the baselines: every tenant
becomes an alias `t<i>` of DATABASES and tenant-router's router is left out.
"""

import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "tenant_router",
    "ledger",
]

BACKEND = os.environ.get("BENCH_BACKEND", "sqlite")
PG = {"HOST": "127.0.0.1", "PORT": "5432", "USER": "postgres"}

# The template of every tenant database; tenants override NAME. Never migrated or connected to.
if BACKEND == "postgres":
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "benchtr_template", **PG}}
    SA_TEMPLATE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/benchtr_template"
else:
    _NEVER_USED = BASE_DIR.parent / "work" / "template-never-used.sqlite3"
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _NEVER_USED}}
    SA_TEMPLATE_URL = f"sqlite:///{_NEVER_USED}"
SQLALCHEMY_DATABASES = {"default": {"URL": SA_TEMPLATE_URL, "ENGINE_OPTIONS": {}}}
DATABASE_ROUTERS = ["tenant_router.orm_backends.django_orm.router.DjangoOrmRouter"]

TENANT_ROUTER_SERVICE_NAME = "bench"
TENANT_ROUTER_TEMPLATE_PREFIX = os.environ.get("BENCH_TEMPLATE_PREFIX", "tr_tpl")
TENANT_ROUTER_TENANT_CONFIG = os.environ.get("BENCH_TENANT_CONFIG", str(BASE_DIR / "tenant_config.json"))
TENANT_ROUTER_ORM_SETTINGS = {
    "django_orm": {
        "MANAGER": "tenant_router.orm_backends.django_orm.manager.DjangoOrmManager",
        "SETTINGS_KEY": "DATABASES",
        "OPTIONS": {},
    },
    "sqlalchemy_orm": {
        "MANAGER": "tenant_router.orm_backends.sqlalchemy_orm.manager.SqlAlchemyOrmManager",
        "SETTINGS_KEY": "SQLALCHEMY_DATABASES",
        "OPTIONS": {
            "MIGRATION_ASST": {
                "CLASS": "tenant_router.orm_backends.sqlalchemy_orm.migration_asst.AlembicMigrationAsst",
                "OPTIONS": {"ALEMBIC_INI": "alembic.ini"},  # relative to BASE_DIR
            },
        },
    },
}

if os.environ.get("BENCH_ALL_TENANTS") == "1":
    # Baselines: a plain Django project listing every tenant database (alias = the harness's alias).
    with open(TENANT_ROUTER_TENANT_CONFIG, encoding="utf-8") as fh:
        _tenants = json.load(fh)["tenant_config"]
    for _tenant, _entry in _tenants.items():
        _alias = _tenant.replace("tenant-", "t")
        DATABASES[_alias] = {**DATABASES["default"], **_entry["bench"]["orm_config"]["django_orm"]["default"]}
    DATABASE_ROUTERS = []
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "tenant_router"]
