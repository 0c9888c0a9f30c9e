"""Projects, tenant fleets and their databases: written, brought to a state, copied, dropped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work"
PYTHON = REPO / ".venv" / "bin" / "python"
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STATES = ("empty", "behind", "current")


@dataclass(frozen=True)
class Project:
    """A Django project the benchmark migrates, and what "latest" and "behind" mean for it."""

    key: str  # "workload" or "example": prefixes database and folder names
    settings: str
    pythonpath: tuple[Path, ...]
    manage_py: Path
    alembic_ini: Path
    service: str  # TENANT_ROUTER_SERVICE_NAME
    tenant_apps: tuple[str, ...]  # Django apps whose latest migration every tenant must have
    behind_django: tuple[str, str] | None = None  # (app, migration) of the "behind" state
    behind_alembic: str | None = None
    central: bool = False  # a reserved "central" Django alias, migrated once per run
    split_sqlite: bool = False  # SQLite: SQLAlchemy tables in a file of their own (as the example does)

    @property
    def db_prefix(self) -> str:
        """PostgreSQL database names start with it (BENCH_DB_PREFIX: another bench on the same server)."""
        default = "benchtr" if self.key == "workload" else "benchex"
        custom = os.environ.get("BENCH_DB_PREFIX")
        return default if not custom else custom if self.key == "workload" else f"{custom}ex"


WORKLOAD = Project(
    key="workload",
    settings="benchsite.settings",
    pythonpath=(BENCH / "workload",),
    manage_py=BENCH / "workload" / "manage.py",
    alembic_ini=BENCH / "workload" / "alembic.ini",
    service="bench",
    tenant_apps=("contenttypes", "auth", "ledger"),
    behind_django=("ledger", "0029_account_closed_on"),
    behind_alembic="r09_warehouse_city",
)
EXAMPLE = Project(
    key="example",
    settings="bench_clinic",
    pythonpath=(BENCH / "example", REPO / "examples" / "clinic"),
    manage_py=REPO / "examples" / "clinic" / "manage.py",
    alembic_ini=REPO / "examples" / "clinic" / "alembic.ini",
    service="clinic",
    tenant_apps=("contenttypes", "auth", "patients"),
    central=True,
    split_sqlite=True,
)


@dataclass(frozen=True)
class Tenant:
    """One tenant: its Django alias in baseline settings, its Django database and SQLAlchemy URL."""

    id: str  # "tenant-7"
    alias: str  # "t7"
    django_db: str  # SQLite path or PostgreSQL database name
    sa_db: str  # the same, for the SQLAlchemy tables (equal to django_db unless split)
    sa_url: str


@dataclass
class Fleet:
    """N tenants of a project on one backend, and the tenant configuration file describing them."""

    project: Project
    backend: str
    tenants: list[Tenant]
    folder: Path
    config_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config_path = self.folder / "tenant_config.json"

    @property
    def central_db(self) -> str:
        """The reserved central database (example project only)."""
        if self.backend == "postgres":
            return f"{self.project.db_prefix}_central"
        return str(WORK / "example-sqlite" / "central.sqlite3")

    def env(self, *, all_tenants: bool = False) -> dict[str, str]:
        """Environment of every command run against this fleet."""
        env = dict(os.environ)
        env.update(
            BENCH_BACKEND=self.backend,
            BENCH_TENANT_CONFIG=str(self.config_path),
            DJANGO_SETTINGS_MODULE=self.project.settings,
            PYTHONPATH=os.pathsep.join(str(p) for p in (*self.project.pythonpath, REPO)),
        )
        env.pop("BENCH_ALL_TENANTS", None)
        if all_tenants:
            env["BENCH_ALL_TENANTS"] = "1"
        return env

    def write_config(self, tenants: Iterable[Tenant] | None = None, path: Path | None = None) -> Path:
        """Write the tenant configuration document (all tenants, or `tenants`) and return its path."""
        doc = {
            t.id: {
                self.project.service: {
                    "orm_config": {
                        "django_orm": {"default": {"NAME": t.django_db}},
                        "sqlalchemy_orm": {"default": {"URL": t.sa_url}},
                    }
                }
            }
            for t in (self.tenants if tenants is None else tenants)
        }
        path = path or self.config_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"tenant_config": doc}, indent=1), encoding="utf-8")
        return path


def make_tenant(project: Project, backend: str, folder: Path, number: int | str) -> Tenant:
    """Tenant `number` of the project on the backend (`number` may be "golden")."""
    if backend == "postgres":
        name = f"{project.db_prefix}_{number}"
        return Tenant(
            f"tenant-{number}",
            f"t{number}",
            name,
            name,
            f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
        )
    django_db = str(folder / f"tenant-{number}.sqlite3")
    sa_db = str(folder / f"tenant-{number}-sa.sqlite3") if project.split_sqlite else django_db
    return Tenant(f"tenant-{number}", f"t{number}", django_db, sa_db, f"sqlite:///{sa_db}")


def make_fleet(project: Project, backend: str, count: int) -> Fleet:
    """The fleet of `count` tenants; its configuration file is written, no database is touched."""
    folder = WORK / f"{project.key}-{backend}"
    fleet = Fleet(
        project, backend, [make_tenant(project, backend, folder, i) for i in range(1, count + 1)], folder
    )
    fleet.write_config()
    return fleet


# -- PostgreSQL ------------------------------------------------------------------------------
@contextmanager
def pg() -> Iterator[psycopg.Connection]:
    """An autocommit connection to the maintenance database."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        yield conn


def pg_databases(prefix: str) -> list[str]:
    """Names of existing databases named `<prefix>_...`."""
    with pg() as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{prefix}\\_%",))
        return [r[0] for r in rows]


def _pg_run(statements: list[str], workers: int = 2) -> None:
    """Run DDL statements over `workers` connections (CREATE/DROP DATABASE cannot share a transaction)."""

    def worker(chunk: list[str]) -> None:
        with pg() as conn:
            for sql in chunk:
                conn.execute(sql)  # type: ignore[arg-type]

    chunks = [statements[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(worker, [c for c in chunks if c]))


def pg_drop(names: Iterable[str]) -> None:
    """DROP DATABASE IF EXISTS each name."""
    _pg_run([f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names])


def pg_create(names: Iterable[str], template: str = "template0") -> None:
    """CREATE DATABASE each name as a copy of `template`."""
    _pg_run([f'CREATE DATABASE "{n}" TEMPLATE "{template}"' for n in names])


# -- provisioning ----------------------------------------------------------------------------
def migrate_golden(fleet: Fleet, golden: Tenant, state: str) -> None:
    """Bring the golden tenant (and central, when the project has one) to `state` with plain Django/Alembic."""
    project = fleet.project
    config = fleet.write_config([golden], fleet.folder / "golden_config.json")
    args = [str(PYTHON), str(BENCH / "inproc.py"), "--alembic-ini", str(project.alembic_ini)]
    if state == "behind":
        if project.behind_django is None or project.behind_alembic is None:
            raise SystemExit(f"The {project.key} project has no 'behind' state.")
        args += [
            "--django-target",
            ":".join(project.behind_django),
            "--alembic-target",
            project.behind_alembic,
        ]
    env = {**fleet.env(all_tenants=True), "BENCH_TENANT_CONFIG": str(config)}
    subprocess.run(args, env=env, check=True, cwd=REPO)


def _copy_sqlite(src: str, dst: str) -> None:
    shutil.copyfile(src, dst)


def provision(fleet: Fleet, state: str) -> None:
    """Drop every database of the fleet and create them again in `state` (empty, behind, current)."""
    project, names = (
        fleet.project,
        sorted({t.django_db for t in fleet.tenants} | {t.sa_db for t in fleet.tenants}),
    )
    golden = make_tenant(project, fleet.backend, fleet.folder, "golden")
    if fleet.backend == "postgres":
        pg_drop([*pg_databases(project.db_prefix)])
        if project.central:
            pg_create([fleet.central_db])
        if state == "empty":
            pg_create(names)
            return
        pg_create([golden.django_db])
        migrate_golden(fleet, golden, state)
        pg_create(names, template=golden.django_db)
        pg_drop([golden.django_db])
        return
    if fleet.folder.exists():
        shutil.rmtree(fleet.folder)
    fleet.folder.mkdir(parents=True)
    fleet.write_config()
    if project.central:
        central = Path(fleet.central_db)
        central.parent.mkdir(parents=True, exist_ok=True)
        central.unlink(missing_ok=True)
    if state == "empty":
        return
    migrate_golden(fleet, golden, state)
    for t in fleet.tenants:
        _copy_sqlite(golden.django_db, t.django_db)
        if t.sa_db != t.django_db:
            _copy_sqlite(golden.sa_db, t.sa_db)


def teardown(fleet: Fleet) -> None:
    """Drop every database and file the fleet created."""
    if fleet.backend == "postgres":
        pg_drop(pg_databases(fleet.project.db_prefix))
    shutil.rmtree(fleet.folder, ignore_errors=True)
    if fleet.project.central and fleet.backend == "sqlite":
        Path(fleet.central_db).unlink(missing_ok=True)


if __name__ == "__main__":  # `python bench/provision.py --drop-all`: leave no bench database behind
    if sys.argv[1:] == ["--drop-all"]:
        prefixes = [WORKLOAD.db_prefix, EXAMPLE.db_prefix]
        for prefix in prefixes:
            pg_drop(pg_databases(prefix))
        print(f"dropped every {'_* and '.join(prefixes)}_* database")
