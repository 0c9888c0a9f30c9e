"""The one Django settings module of in-process tests (Django starts once per process).

Tests vary TENANT_ROUTER_* with django.test.override_settings: tenant-router reads them at call time.
The template database is never created; the reserved "central" database lives in a per-session folder.
"""

import os
import tempfile
from pathlib import Path

# One folder per test process, shared with the processes it starts (they inherit the variable); each
# pytest-xdist worker has its own (the controller's variable would otherwise reach every worker).
_VARIABLE = "TR_TEST_STATE_DIR" + os.environ.get("PYTEST_XDIST_WORKER", "")
_STATE = Path(os.environ.setdefault(_VARIABLE, tempfile.mkdtemp(prefix="tr-tests-")))

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "tenant_router",
    "patients",
    "directory",
    "killer",
    "legacy",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(_STATE / "template.sqlite3")},
    "central": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(_STATE / "central.sqlite3")},
}
DATABASE_ROUTERS = ["tenant_router.orm_backends.django_orm.router.DjangoOrmRouter"]
TENANT_ROUTER_SERVICE_NAME = "clinic"
TENANT_ROUTER_JOURNAL_DIR = str(_STATE / "journal")
TENANT_ROUTER_TENANT_CONFIG = str(_STATE / "no-tenant-config-set-by-this-test.json")
TENANT_ROUTER_ORM_SETTINGS = {
    "django_orm": {
        "OPTIONS": {
            "RESERVED_CONN_ALIASES": ["central"],
            "ROUTER_OPTS": {"MIGRATE_STRATEGY": "clinic.routing.migrate_strategy"},
        },
    },
}

if os.environ.get("TR_TEMPLATE"):  # tests that build a real template database with plain `migrate`
    DATABASES["default"]["NAME"] = os.environ["TR_TEMPLATE"]
    TENANT_ROUTER_TENANT_CONFIG = os.environ["TR_TENANT_CONFIG"]
TENANT_ROUTER_ALLOW_TEMPLATE_ACCESS = bool(os.environ.get("TR_TEMPLATE_ACCESS"))
