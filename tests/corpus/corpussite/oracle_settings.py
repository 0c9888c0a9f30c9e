"""The oracle: the corpus project as plain Django sees it, DATABASES["default"] = one database alone.

`python -m django migrate --settings corpussite.oracle_settings` with CORPUS_ORACLE_DB naming that
database (a SQLite path, or a database on the CORPUS server); tenant-router is neither installed nor
routing.
"""

import os

from corpussite.settings import *  # noqa: F403
from corpussite.settings import INSTALLED_APPS, database

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "tenant_router"]
DATABASES = {"default": database(os.environ["CORPUS_ORACLE_DB"])}
DATABASE_ROUTERS: list[str] = []
SQLALCHEMY_DATABASES: dict = {}
TENANT_ROUTER_ORM_SETTINGS: dict = {}
