"""Helpers for the SQLAlchemy backend tests: throw-away sites run as real `tenant-router` processes.

A site is a folder in tmp_path holding a settings module, a tenant_config.json, an Alembic
environment copied from tests/alembic_envs (one of two env.py styles) and the SQLite files of its
tenants; `Site.run(...)` runs the CLI in a subprocess, so each site gets its own Django.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from support.paths import TESTS
from support.processes import CLI, run
from support.servers import MYSQL, POSTGRES, require

ENVS = TESTS / "alembic_envs"
REVISIONS = ["a1000000001a", "b2000000002b", "c3000000003c"]
HEAD = REVISIONS[-1]
STYLES = ["url", "connection"]
BACKENDS = ["sqlite", "postgres", "mysql"]
SA_ASST = "tenant_router.orm_backends.sqlalchemy_orm.migration_asst.AlembicMigrationAsst"

INI = """\
[alembic]
script_location = %(here)s/alembic
sqlalchemy.url = {url}

[loggers]
keys = root,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_alembic]
level = WARNING
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""


def write_alembic(root: Path, style: str, url: str = "driver://user:pass@localhost/dbname") -> Path:
    """Copy the `style` env.py and the shared revisions to root/alembic; write root/alembic.ini."""
    target = root / "alembic"
    (target / "versions").mkdir(parents=True, exist_ok=True)
    shutil.copy(ENVS / f"{style}_style" / "env.py", target / "env.py")
    for revision in (ENVS / "versions").glob("*.py"):
        shutil.copy(revision, target / "versions" / revision.name)
    ini = root / "alembic.ini"
    ini.write_text(INI.format(url=url.replace("%", "%%")), encoding="utf-8")
    return ini


@contextmanager
def database_urls(backend: str, tmp_path: Path, count: int) -> Iterator[list[str]]:
    """`count` empty databases of `backend` as SQLAlchemy URLs; dropped afterwards."""
    if backend == "sqlite":
        folder = tmp_path / "dbs"
        folder.mkdir(exist_ok=True)
        yield [f"sqlite:///{folder / f'db{i}.sqlite3'}" for i in range(count)]
        return
    server = require(POSTGRES if backend == "postgres" else MYSQL)
    with server.databases(count, prefix="trsa") as names:
        yield [server.sqlalchemy_url(name) for name in names]


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one statement on `url`."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql)).all()]
    finally:
        engine.dispose()


def execute(url: str, sql: str) -> None:
    """Run one statement on `url` and commit."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def version(url: str) -> list[str]:
    """The revision ids in alembic_version ([] when the table is missing)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return []
            return sorted(r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def plain_alembic_upgrade(tmp_path: Path, style: str, url: str) -> None:
    """`alembic upgrade head` against `url` alone, as a project would run it (the reference)."""
    root = tmp_path / f"reference-{style}"
    root.mkdir(exist_ok=True)
    ini = write_alembic(root, style, url)
    result = run([sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"], root)
    assert result.returncode == 0, result.stderr


@dataclass
class Site:
    """A throw-away project: settings module `module` in `root`, run through the CLI."""

    root: Path
    module: str = "sasite"
    django_dbs: dict[str, Path] = field(default_factory=dict)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m tenant_router_cli <args> --settings ... --pythonpath ...` in `root`."""
        return run([*CLI, *args, "--settings", self.module, "--pythonpath", str(self.root)], self.root)

    def run_json(self, *args: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        """Run with --json; return the process and its JSON lines."""
        result = self.run(*args, "--json")
        return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def report_of(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The final `report` object of a --json run."""
    return next(line for line in reversed(lines) if line.get("event") == "report")


def rows(report: dict[str, Any], orm: str) -> dict[str | None, dict[str, Any]]:
    """tenant -> result row of one ORM."""
    return {r["tenant"]: r for r in report["results"] if r["orm"] == orm}


def make_site(
    root: Path,
    sa_urls: dict[str, str | None],
    *,
    style: str = "url",
    asst_options: dict[str, Any] | None = None,
    django: bool = True,
    sa_first: bool = False,
    extra_orms: dict[str, Any] | None = None,
    extra_settings: str = "",
    extra_tenant_config: dict[str, dict[str, Any]] | None = None,
) -> Site:
    """Write a site whose tenants are `sa_urls` (None: no SQLAlchemy entry for that tenant)."""
    root.mkdir(parents=True, exist_ok=True)
    write_alembic(root, style)
    site = Site(root)
    orms: dict[str, Any] = {}
    sa_entry = {
        "OPTIONS": {
            "MIGRATION_ASST": {"CLASS": SA_ASST, "OPTIONS": asst_options or {"ALEMBIC_INI": "alembic.ini"}}
        }
    }
    if django:
        orms["django_orm"] = {}
    orms["sqlalchemy_orm"] = sa_entry
    if sa_first:
        orms = {"sqlalchemy_orm": sa_entry, **{k: v for k, v in orms.items() if k != "sqlalchemy_orm"}}
    orms.update(extra_orms or {})
    tenants: dict[str, Any] = {}
    for tenant, url in sa_urls.items():
        orm_config: dict[str, Any] = {}
        if django:
            orm_config["django_orm"] = {"default": {"NAME": f"django-{tenant}.sqlite3"}}
            site.django_dbs[tenant] = root / f"django-{tenant}.sqlite3"
        if url is not None:
            orm_config["sqlalchemy_orm"] = {"default": {"URL": url}}
        orm_config.update((extra_tenant_config or {}).get(tenant, {}))
        tenants[tenant] = {"sasite": {"orm_config": orm_config}}
    (root / "tenant_config.json").write_text(json.dumps({"tenant_config": tenants}, indent=2))
    settings = f"""\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "tests-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "tenant_router"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "template.sqlite3"}}}}
SQLALCHEMY_DATABASES = {{"default": {{"URL": "sqlite:///" + str(BASE_DIR / "template-sa.sqlite3")}}}}
TENANT_ROUTER_SERVICE_NAME = "sasite"
TENANT_ROUTER_TENANT_CONFIG = BASE_DIR / "tenant_config.json"
TENANT_ROUTER_ORM_SETTINGS = {orms!r}
{extra_settings}
"""
    package = root / site.module
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(settings)
    site.module = f"{site.module}.settings"
    return site
