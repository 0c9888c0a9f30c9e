"""Copies of the clinic example for the real-process tests, and apps added to a copy.

A copy has no database, no lock file and no journal. The `gate` app adds one RunPython migration after
patients.0003 that waits until the test opens the gate, so a test can act while a run is mid-migration.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from support.paths import EXAMPLE
from support.processes import EXE
from support.servers import Server, pg_query, require


def clinic_copy(tmp: Path) -> Path:
    """A fresh copy of examples/clinic: no database, no lock file, no journal."""
    target = tmp / "clinic"
    shutil.copytree(
        EXAMPLE,
        target,
        ignore=shutil.ignore_patterns("*.sqlite3", "*.lock", "__pycache__", ".tenant-router"),
    )
    return target


def write_django_tenants(example: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Replace the example's tenants: each gets only a django_orm.default entry."""
    tenants = {t: {"clinic": {"orm_config": {"django_orm": {"default": e}}}} for t, e in entries.items()}
    (example / "tenant_config.json").write_text(json.dumps({"tenant_config": tenants}, indent=2))


def pg_url(name: str) -> str:
    """The URL of database `name` on the local PostgreSQL server."""
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def migrate_args(example: Path, journal: Path, *extra: str) -> list[str]:
    """The console script's `migrate` on the copy, Django ORM only, journal in `journal`."""
    return [
        EXE, "migrate", "--settings", "clinic.settings", "--pythonpath", str(example),
        "--orm", "django_orm", "--journal", str(journal), *extra,
    ]  # fmt: skip


GATE_MIGRATION = '''
"""Waits (at most two minutes) until the test opens the gate; leaves a mark per process and database.

TR_GATE_DIR unset: does nothing. `<dir>/open` present: passes. `<dir>/only` lists the databases it holds.
"""

import os
import time

from django.db import migrations


def wait_for_gate(apps, schema_editor):
    folder = os.environ.get("TR_GATE_DIR")
    if not folder:
        return
    name = os.path.basename(str(schema_editor.connection.settings_dict["NAME"]))
    only = os.path.join(folder, "only")  # when present: the databases (base names) held, one a line
    if os.path.exists(only) and name not in open(only).read().split():
        return
    with open(os.path.join(folder, f"arrived-{os.getpid()}-{name}"), "w"):
        pass
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(folder, "open")) and time.monotonic() < deadline:
        time.sleep(0.05)


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_visit_index")]
    operations = [migrations.RunPython(wait_for_gate, migrations.RunPython.noop)]
'''


def add_app(example: Path, app: str, migrations: dict[str, str]) -> None:
    """Add a Django app with these migration files to a copy of the clinic example."""
    folder = example / app
    (folder / "migrations").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "migrations" / "__init__.py").write_text("")
    for name, text in migrations.items():
        (folder / "migrations" / f"{name}.py").write_text(text)
    settings = example / "clinic" / "settings.py"
    text = settings.read_text()
    text = re.sub(r'("directory",\n)', rf'\1    "{app}",\n', text, count=1)
    assert f'"{app}"' in text
    settings.write_text(text)


def add_gate(example: Path) -> None:
    """The `gate` app: one RunPython after patients.0003 that waits while TR_GATE_DIR has no `open`."""
    add_app(example, "gate", {"0001_wait": GATE_MIGRATION})


def arrivals(gate: Path) -> list[str]:
    """`<pid>-<database>` of every process that reached the gate migration."""
    return sorted(p.name.removeprefix("arrived-") for p in gate.glob("arrived-*"))


#: An app's first migration after patients.0003: added to a copy, it changes the template digest.
EXTRA_MIGRATION = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_visit_index")]
    operations = [migrations.CreateModel("Note", [("id", models.AutoField(primary_key=True))])]
"""


def server_url(server: Server, name: str) -> str:
    """The URL of database `name` on `server` (the local PostgreSQL or MariaDB)."""
    return pg_url(name) if server.kind == "postgres" else f"mysql://root@127.0.0.1:3306/{name}"


def prefixed_clinic(tmp: Path, count: int, server: Server) -> tuple[Path, str, list[str]]:
    """A clinic copy whose settings module `tpl_settings` gives templates a prefix of the test's own, and
    `count` Django-only tenants t0... on databases of `server` that do not exist yet."""
    require(server)
    example = clinic_copy(tmp)
    prefix = f"trt{uuid.uuid4().hex[:8]}"
    (example / "tpl_settings.py").write_text(
        f"from clinic.settings import *  # noqa: F403\nTENANT_ROUTER_TEMPLATE_PREFIX = {prefix!r}\n"
    )
    names = [f"trk_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    write_django_tenants(example, {f"t{i}": {"URL": server_url(server, n)} for i, n in enumerate(names)})
    return example, prefix, names


def applied_on(server: Server, name: str) -> list[tuple[Any, ...]]:
    """The (app, name) rows of django_migrations in database `name` of `server`."""
    if server.kind == "postgres":
        return pg_query(name, "SELECT app, name FROM django_migrations")
    conn = server.admin()
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT app, name FROM `{name}`.django_migrations")
        return [tuple(r) for r in cursor.fetchall()]
    finally:
        conn.close()
