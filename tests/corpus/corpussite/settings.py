"""A real Django project over pinned third-party migration histories, for tests/test_corpus_parity.py.

wagtail (and taggit, modelcluster, treebeard), social-auth-app-django, django-allauth, django.contrib
and one small app of our own (corpusapp) on the Django side; optuna's own Alembic environment on the
SQLAlchemy side. Each tenant keeps both in ONE database, as a real deployment would.

Tests run this project in subprocesses and choose through environment variables:

CORPUS_ENGINE           sqlite (default), postgres or mysql
CORPUS_SERVER           the server's URL (default: TENANT_ROUTER_TEST_POSTGRES / _MYSQL or the local server)
CORPUS_TENANT_CONFIG    the tenant configuration file (default: tenant_config.json beside this project)
CORPUS_TEMPLATE         the template database: a SQLite path or a database name on the server; by default
                        one that does not exist (tenant-router must never connect to it)
CORPUS_TEMPLATE_PORT    the template's port, when it differs from the server's (1: a port that refuses)
CORPUS_SHARE_STATES     "0" runs the Django assistant with share_states=False
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "corpus-tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SITE_ID = 1
ROOT_URLCONF = "corpussite.urls"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "corpusapp",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "social_django",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "django.contrib.staticfiles",
    "tenant_router",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
WAGTAIL_SITE_NAME = "corpus"
WAGTAILADMIN_BASE_URL = "http://corpus.example"
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}

ENGINE = os.environ.get("CORPUS_ENGINE", "sqlite")
_DEFAULT_SERVERS = {
    "postgres": os.environ.get("TENANT_ROUTER_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
    "mysql": os.environ.get("TENANT_ROUTER_TEST_MYSQL", "mysql://root@127.0.0.1:3306/mysql"),
}
_NEVER_CREATED = {
    "sqlite": str(BASE_DIR / "var" / "never-created" / "template.sqlite3"),
    "postgres": "tr_corpus_template_never_created",
    "mysql": "tr_corpus_template_never_created",
}


def database(name: str, *, port: str | None = None) -> dict:
    """The DATABASES entry of database `name` (a SQLite path, or a database on the CORPUS server)."""
    if ENGINE == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    server = urlsplit(os.environ.get("CORPUS_SERVER", _DEFAULT_SERVERS[ENGINE]))
    return {
        "ENGINE": "django.db.backends.postgresql" if ENGINE == "postgres" else "django.db.backends.mysql",
        "NAME": name,
        "USER": server.username or "",
        "PASSWORD": server.password or "",
        "HOST": server.hostname or "127.0.0.1",
        "PORT": port or str(server.port or (5432 if ENGINE == "postgres" else 3306)),
    }


def sqlalchemy_url(entry: dict) -> str:
    """The SQLAlchemy URL of the same database as the DATABASES entry `entry`."""
    if ENGINE == "sqlite":
        return f"sqlite:///{entry['NAME']}"
    scheme = "postgresql+psycopg" if ENGINE == "postgres" else "mysql+mysqldb"
    auth = entry["USER"] + (f":{entry['PASSWORD']}" if entry["PASSWORD"] else "")
    return f"{scheme}://{auth}@{entry['HOST']}:{entry['PORT']}/{entry['NAME']}"


_TEMPLATE = database(
    os.environ.get("CORPUS_TEMPLATE", _NEVER_CREATED[ENGINE]), port=os.environ.get("CORPUS_TEMPLATE_PORT")
)
DATABASES = {"default": _TEMPLATE}  # the template of every tenant's database
SQLALCHEMY_DATABASES = {"default": {"URL": sqlalchemy_url(_TEMPLATE)}}
DATABASE_ROUTERS = ["tenant_router.orm_backends.django_orm.router.DjangoOrmRouter"]

# optuna's v2.4.0.a drops a column that is part of a two-column unique key: MySQL allows it, MariaDB
# refuses ("Key column 'step' doesn't exist in table"), so on MariaDB optuna stops at the revision before.
_OPTUNA = {"ALEMBIC_INI": "alembic.ini", "SCRIPT_LOCATION": "optuna.storages._rdb:alembic"}
if ENGINE == "mysql":
    _OPTUNA["TARGET"] = "v1.3.0.a"

_DJANGO_ASST = {"CLASS": "tenant_router.orm_backends.django_orm.migration_asst.DjangoOrmMigrationAsst"}
if os.environ.get("CORPUS_SHARE_STATES") == "0":
    _DJANGO_ASST["OPTIONS"] = {"share_states": False}

TENANT_ROUTER_SERVICE_NAME = "corpus"
TENANT_ROUTER_TEMPLATE_PREFIX = os.environ.get("CORPUS_TEMPLATE_PREFIX", "tr_tpl")
TENANT_ROUTER_TENANT_CONFIG = os.environ.get("CORPUS_TENANT_CONFIG", str(BASE_DIR / "tenant_config.json"))
TENANT_ROUTER_JOURNAL_DIR = str(Path(TENANT_ROUTER_TENANT_CONFIG).parent / "journal")
TENANT_ROUTER_ORM_SETTINGS = {
    "django_orm": {"OPTIONS": {"MIGRATION_ASST": _DJANGO_ASST}},
    "sqlalchemy_orm": {
        "OPTIONS": {
            "MIGRATION_ASST": {
                "CLASS": "tenant_router.orm_backends.sqlalchemy_orm.migration_asst.AlembicMigrationAsst",
                # optuna's own environment; the ini only configures logging, as optuna's env.py expects one
                "OPTIONS": _OPTUNA,
            },
        },
    },
}
