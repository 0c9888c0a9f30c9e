"""Helpers for the hardening tests: a gate migration that waits for the test, throw-away roles."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from servers import POSTGRES

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


def gone(pid: int) -> bool:
    """The process has exited (a zombie counts: it runs no more code)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.split()[1:2] == ["Z"] for line in status if line.startswith("State:"))
    except FileNotFoundError:
        return True


def arrivals(gate: Path) -> list[str]:
    """`<pid>-<database>` of every process that reached the gate migration."""
    return sorted(p.name.removeprefix("arrived-") for p in gate.glob("arrived-*"))


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    """Poll `condition` until it is true (a generous timeout: it only bounds a hung test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def pg_roles(count: int) -> Iterator[list[str]]:
    """Throw-away PostgreSQL login roles (superusers: they create tables in public), dropped afterwards."""
    names = [f"tr_role_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    try:
        for name in names:
            POSTGRES.execute(f"CREATE ROLE {name} LOGIN SUPERUSER")
        yield names
    finally:
        for name in names:
            POSTGRES.execute(f"DROP ROLE IF EXISTS {name}")


def pg_query(name: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql)]
