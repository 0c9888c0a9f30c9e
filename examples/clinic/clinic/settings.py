"""Settings of the clinic example: three SQLite tenants (Django and SQLAlchemy) and a reserved central database."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only-not-secret"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "tenant_router",
    "patients",
    "directory",
]

DATABASES = {
    # The template of every tenant database: tenants override NAME. Never migrated itself.
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "var" / "template.sqlite3",
    },
    # Shared by all tenants: migrated once per run, before any tenant.
    "central": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "var" / "central.sqlite3",
    },
}
# The template of every tenant's billing database (SQLAlchemy + Alembic): tenants override URL.
SQLALCHEMY_DATABASES = {
    "default": {"URL": f"sqlite:///{BASE_DIR / 'var' / 'template-sa.sqlite3'}", "ENGINE_OPTIONS": {}},
}
DATABASE_ROUTERS = ["tenant_router.orm_backends.django_orm.router.DjangoOrmRouter"]

TENANT_ROUTER_SERVICE_NAME = "clinic"
TENANT_ROUTER_TENANT_CONFIG = BASE_DIR / "tenant_config.json"
TENANT_ROUTER_ORM_SETTINGS = {
    "django_orm": {
        "MANAGER": "tenant_router.orm_backends.django_orm.manager.DjangoOrmManager",
        "SETTINGS_KEY": "DATABASES",
        "OPTIONS": {
            "RESERVED_CONN_ALIASES": ["central"],
            "ROUTER_OPTS": {"MIGRATE_STRATEGY": "clinic.routing.migrate_strategy"},
        },
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
