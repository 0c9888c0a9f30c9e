"""After every timed run: is every tenant at its latest Django migration and Alembic head? Fail loudly."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from contextlib import closing

import psycopg
from provision import PYTHON, REPO, Fleet, Tenant

_EXPECTED = """
import json, sys, django
django.setup()
from alembic.config import Config
from alembic.script import ScriptDirectory
from django.db.migrations.loader import MigrationLoader
apps, ini = sys.argv[1].split(","), sys.argv[2]
leaves = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes()
print(json.dumps({"django": sorted([a, n] for a, n in leaves if a in apps),
                  "alembic": sorted(ScriptDirectory.from_config(Config(ini)).get_heads())}))
"""


class VerificationError(AssertionError):
    """A tenant database is not at its latest migration after a timed run."""


def expected_heads(fleet: Fleet) -> dict[str, list]:
    """{"django": [[app, leaf], ...], "alembic": [head, ...]} from the project's migration files."""
    project = fleet.project
    out = subprocess.run(
        [str(PYTHON), "-c", _EXPECTED, ",".join(project.tenant_apps), str(project.alembic_ini)],
        env=fleet.env(),
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def _query(fleet: Fleet, db: str, sql: str) -> list[tuple] | None:
    """Rows of `sql` in database `db`, or None when the table (or database file) does not exist."""
    try:
        if fleet.backend == "postgres":
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db}") as conn:
                return list(conn.execute(sql))  # type: ignore[arg-type]
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return conn.execute(sql).fetchall()
    except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
        return None


def problems(fleet: Fleet, tenant: Tenant, expected: dict[str, list], *, alembic: bool) -> list[str]:
    """What is wrong with one tenant (empty when it is at its latest migrations)."""
    found: list[str] = []
    rows = _query(fleet, tenant.django_db, "SELECT app, name FROM django_migrations")
    applied = {(a, n) for a, n in rows or ()}
    missing = [f"{a}.{n}" for a, n in expected["django"] if (a, n) not in applied]
    if missing:
        found.append(f"Django migrations not applied: {', '.join(missing)}")
    if alembic:
        rows = _query(fleet, tenant.sa_db, "SELECT version_num FROM alembic_version")
        heads = sorted(r[0] for r in rows or ())
        if heads != expected["alembic"]:
            found.append(f"alembic_version is {heads or 'missing'}, expected {expected['alembic']}")
    return found


def verify(
    fleet: Fleet, expected: dict[str, list], tenants: Iterable[Tenant], *, alembic: bool, what: str
) -> int:
    """Check every tenant; raise VerificationError naming each one that is behind. Returns the count."""
    bad, count = [], 0
    for tenant in tenants:
        count += 1
        bad += [f"{tenant.id}: {p}" for p in problems(fleet, tenant, expected, alembic=alembic)]
    if bad:
        shown = "\n  ".join(bad[:20]) + (f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise VerificationError(f"VERIFICATION FAILED after {what}: {len(bad)} problem(s)\n  {shown}")
    return count


if __name__ == "__main__":
    sys.exit("verify.py is a module of bench/run.py")
