"""Issue 20, "try to break it again": the defects found trying `--canary` under faults (a failing migration
on some tenants after a partial rollout, a canary held by another run) and `--max-connections-per-host`
under load, counted from the server's side (pg_stat_activity). (`--max-failures` with failing migrations
and with a PostgreSQL database dropped mid-run, and a busy canary, behaved as documented: no test here.)

The `fault` app added to a copy of the clinic example has one RunPython after patients.0003: it raises
for the databases listed in `$TR_FAULT_DIR/fail`, waits (marking its arrival) for those listed in
`hold` until `open` exists, and sleeps as long as `sleep` says.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import processes
from support.clinic import add_app, clinic_copy, migrate_args, write_django_tenants
from support.processes import report_of, wait_until
from support.servers import POSTGRES, require

from tenant_router_cli.exit_codes import ExitCode

FAULT_MIGRATION = """
import os
import time

from django.db import migrations


def maybe_fail(apps, schema_editor):
    folder = os.environ.get("TR_FAULT_DIR")
    if not folder:
        return
    name = os.path.basename(str(schema_editor.connection.settings_dict["NAME"]))

    def listed(kind):
        path = os.path.join(folder, kind)
        return os.path.exists(path) and name in open(path).read().split()

    if listed("hold"):
        open(os.path.join(folder, f"arrived-{name}"), "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists(os.path.join(folder, "open")) and time.monotonic() < deadline:
            time.sleep(0.05)
    sleep = os.path.join(folder, "sleep")
    if os.path.exists(sleep):
        time.sleep(float(open(sleep).read()))
    if listed("fail"):
        raise RuntimeError(f"fault injected in {name}")


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_visit_index")]
    operations = [migrations.RunPython(maybe_fail, migrations.RunPython.noop)]
"""


PAUSE_REVISION = '''"""Sleeps as long as $TR_FAULT_DIR/sleep says (the clinic's env.py is the stock one: own engine)."""

import os
import time

revision = "e5a1f0c2d9b7"
down_revision = "c81f5a0e4b44"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sleep = os.path.join(os.environ.get("TR_FAULT_DIR", "-"), "sleep")
    if os.path.exists(sleep):
        time.sleep(float(open(sleep).read()))


def downgrade() -> None:
    pass
'''


class Faulty:
    """A copy of the clinic example with the `fault` app, and its fault folder."""

    def __init__(self, tmp: Path) -> None:
        self.example = clinic_copy(tmp)
        add_app(self.example, "fault", {"0001_maybe_fail": FAULT_MIGRATION})
        (self.example / "alembic" / "versions" / "e5a1f0c2d9b7_pause.py").write_text(PAUSE_REVISION)
        self.faults = tmp / "faults"
        self.faults.mkdir()
        self.journal = tmp / "journal"

    def env(self) -> dict[str, str]:
        return processes.clean_environment(self.example, TR_FAULT_DIR=str(self.faults))

    def argv(self, *extra: str, orm: bool = True) -> list[str]:
        argv = [str(a) for a in migrate_args(self.example, self.journal, "--json", *extra)]
        return argv if orm else [a for a in argv if a not in ("--orm", "django_orm")]  # every ORM

    def migrate(self, *extra: str, orm: bool = True) -> subprocess.CompletedProcess[str]:
        return processes.run(self.argv(*extra, orm=orm), self.example, env=self.env())

    def start(self, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*extra), cwd=self.example, env=self.env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def fault(self, kind: str, *names: str) -> None:
        (self.faults / kind).write_text("".join(f"{Path(n).name}\n" for n in names))

    def arrived(self, name: str) -> bool:
        return (self.faults / f"arrived-{Path(name).name}").exists()

    def open(self) -> None:
        (self.faults / "open").touch()


@pytest.fixture
def faulty(tmp_path: Path) -> Faulty:
    return Faulty(tmp_path)


def sqlite_tenants(site: Faulty, count: int) -> list[str]:
    """`count` SQLite tenants t0.. (files in var/, made by the runs); their file names."""
    names = [f"var/t{i}.sqlite3" for i in range(count)]
    write_django_tenants(site.example, {f"t{i}": {"NAME": name} for i, name in enumerate(names)})
    return names


def statuses(stdout: str) -> dict[str, str]:
    return {r["tenant"]: r["status"] for r in report_of(stdout)["results"] if r["tenant"] is not None}


def started(stdout: str) -> list[str]:
    return [e["tenant"] for e in processes.events(stdout) if e["event"] == "tenant_started" and e["tenant"]]


# -- --canary ----------------------------------------------------------------------------------------
def test_canaries_are_tenants_with_something_to_do_not_the_first_ones_at_head(faulty: Faulty) -> None:
    """A re-run after a partial rollout: t0 and t1 are at head already. `--canary 1` used to take t0 (at
    head: nothing tried), found no failure, and ran the failing migration on every other tenant."""
    names = sqlite_tenants(faulty, 4)
    assert faulty.migrate("--tenant", "t0", "--tenant", "t1").returncode == 0
    faulty.fault("fail", names[2])

    done = faulty.migrate("--canary", "1", "--jobs", "1")

    assert done.returncode == ExitCode.FAILED, done.stdout + done.stderr
    assert statuses(done.stdout) == {
        "t0": "up_to_date",
        "t1": "up_to_date",
        "t2": "failed",
        "t3": "not_started",
    }
    assert started(done.stdout) == ["t2"]
    assert (
        report_of(done.stdout)["stopped"]
        == "--canary: 1 of the first 1 tenant(s) failed or did not reach the target (t2: failed)"
    )


def test_a_canary_locked_by_another_run_stops_the_run(faulty: Faulty) -> None:
    """The canary was never tried (another run held it): the run used to go on with every other tenant."""
    names = sqlite_tenants(faulty, 3)
    faulty.fault("hold", names[0])
    other = faulty.start("--tenant", "t0")
    try:
        wait_until(lambda: faulty.arrived(names[0]), "the other run to hold t0")
        done = faulty.migrate("--canary", "1", "--lock-timeout", "0.2", "--jobs", "1")
    finally:
        faulty.open()
        other.communicate(timeout=120)

    assert done.returncode == ExitCode.FAILED, done.stdout + done.stderr
    assert statuses(done.stdout) == {"t0": "locked", "t1": "not_started", "t2": "not_started"}
    assert report_of(done.stdout)["stopped"].endswith("did not reach the target (t0: locked)")


# -- --max-connections-per-host, counted by the server -----------------------------------------------
class Sessions:
    """Polls pg_stat_activity (from the maintenance database) for sessions on `names`, as fast as it
    can, while the block runs: the most seen at once."""

    def __init__(self, names: list[str]) -> None:
        self.names, self.most, self.worst = names, 0, []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
            while not self.done.is_set():
                rows = conn.execute(
                    "SELECT datname, pid, state FROM pg_stat_activity WHERE datname = ANY(%s)", (self.names,)
                ).fetchall()
                if len(rows) > self.most:
                    self.most, self.worst = len(rows), rows

    def __enter__(self) -> Sessions:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(30)


@pytest.fixture
def pg_fleet(faulty: Faulty) -> Iterator[tuple[Faulty, list[str]]]:
    """Three tenants on the local PostgreSQL, each with one database its Django and Alembic share."""
    require(POSTGRES)
    with POSTGRES.databases(3, prefix="trcap") as pg:
        tenants = {
            f"t{i}": {"clinic": {"orm_config": {
                "django_orm": {"default": POSTGRES.django_settings(name)},
                "sqlalchemy_orm": {"default": {"URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"}},
            }}}
            for i, name in enumerate(pg)
        }  # fmt: skip
        (faulty.example / "tenant_config.json").write_text(json.dumps({"tenant_config": tenants}))
        yield faulty, pg


def test_the_run_never_holds_more_connections_to_a_server_than_the_cap(
    pg_fleet: tuple[Faulty, list[str]],
) -> None:
    """Each migration sleeps a little, so the databases overlap. The stock Alembic env.py builds its own
    engine: it used to open a second connection beside the run lock's, twice the cap (4 of 2)."""
    faulty, names = pg_fleet
    (faulty.faults / "sleep").write_text("0.3")

    with Sessions(names) as sessions:
        done = faulty.migrate("--jobs", "3", "--max-connections-per-host", "2", orm=False)

    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert set(statuses(done.stdout).values()) == {"migrated"}
    assert 0 < sessions.most <= 2, sessions.worst
