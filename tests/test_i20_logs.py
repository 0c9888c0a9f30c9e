"""Output of other code never corrupts a run's output (issue 20, items 12 and 13).

12: an Alembic environment made by the stock `alembic init` template logs at INFO through a handler on
stderr (env.py calls fileConfig), and its migration may print: in worker processes too, those lines are
routed through the run as `output_logged` events (shown with the tenant named at -v, kept in the
journal), never written over the live view or into plain, -q or JSON output.

13: `manage.py makemigrations` touches no tenant and says nothing about unbound template aliases; a real
unbound use still raises.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from support.clinic import clinic_copy
from support.processes import CLI, clean_environment, run
from support.sites import TenantSite
from support.sqlalchemy_sites import Site, make_site, version

TENANTS = ["t0", "t1", "t2", "t3"]
ALEMBIC_INFO = "INFO  [alembic"
REVISION_BODY = '''    """Upgrade schema."""
    print("hello from r1")
    op.create_table("thing", sa.Column("id", sa.Integer, primary_key=True))'''


@pytest.fixture(scope="module")
def stock(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Four tenants of both ORMs; the Alembic environment is the installed Alembic's `generic` template."""
    root = tmp_path_factory.mktemp("stock") / "site"
    dbs = root / "dbs"
    dbs.mkdir(parents=True)
    site = make_site(root, {t: f"sqlite:///{dbs / f'{t}.sqlite3'}" for t in TENANTS})
    shutil.rmtree(root / "alembic")
    (root / "alembic.ini").unlink()
    alembic = [sys.executable, "-m", "alembic"]
    run([*alembic, "init", "-t", "generic", "alembic"], root, check=True)
    run([*alembic, "revision", "-m", "first", "--rev-id", "r1"], root, check=True)
    revision = next((root / "alembic" / "versions").glob("r1_*.py"))
    text = revision.read_text()
    assert '    """Upgrade schema."""\n    pass' in text, text  # the template we mean to test
    revision.write_text(text.replace('    """Upgrade schema."""\n    pass', REVISION_BODY))
    assert "level = INFO\nhandlers =\nqualname = alembic" in (root / "alembic.ini").read_text()
    return site


def fresh(site: Site) -> Site:
    """The site with no tenant database yet (each test migrates from scratch)."""
    for path in [*site.root.glob("*.sqlite3"), *(site.root / "dbs").glob("*.sqlite3")]:
        path.unlink()
    shutil.rmtree(site.root / ".tenant-router", ignore_errors=True)
    return site


def migrate(site: Site, *args: str, jobs: str = "2") -> subprocess.CompletedProcess[str]:
    result = site.run("migrate", "--jobs", jobs, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    for tenant in TENANTS:
        assert version(f"sqlite:///{site.root / 'dbs' / f'{tenant}.sqlite3'}") == ["r1"]
    return result


def test_plain_output_has_no_alembic_lines_and_v_shows_them_with_the_tenant(stock: Site) -> None:
    plain = migrate(fresh(stock))
    verbose = migrate(fresh(stock), "-v")

    for text in (plain.stdout, plain.stderr, verbose.stderr):
        assert ALEMBIC_INFO not in text
        assert "hello from r1" not in text
    assert "Summary: 8 database(s)" in plain.stdout
    shown = [line for line in verbose.stdout.splitlines() if "alembic.runtime.migration" in line]
    assert any(re.search(r"sqlalchemy_orm t2/default: INFO \[alembic\.runtime\.migration\] Running upgrade", s)
               for s in shown), verbose.stdout  # fmt: skip
    assert "sqlalchemy_orm t1/default: INFO [stdout] hello from r1" in verbose.stdout


@pytest.mark.parametrize("jobs", ["1", "2"])  # this process; worker processes
def test_quiet_output_has_no_alembic_lines(stock: Site, jobs: str) -> None:
    result = migrate(fresh(stock), "-q", jobs=jobs)

    assert ALEMBIC_INFO not in result.stdout + result.stderr
    assert "hello from r1" not in result.stdout + result.stderr
    assert "Summary: 8 database(s)" in result.stdout


def test_json_stdout_stays_json_lines_and_the_journal_keeps_the_records(stock: Site) -> None:
    result = migrate(fresh(stock), "--json", "-v")

    lines = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON
    assert ALEMBIC_INFO not in result.stderr
    logged = [e for e in lines if e["event"] == "output_logged"]
    assert {e["tenant"] for e in logged if e["logger"] == "alembic.runtime.migration"} == set(TENANTS)
    assert {e["tenant"] for e in logged if e["message"] == "hello from r1"} == set(TENANTS)
    records = [json.loads(x) for x in Path(lines[-1]["journal"]).read_text().splitlines()]
    kept = [r for r in records if r.get("logged")]
    assert {r["tenant"] for r in kept if r["logger"] == "alembic.runtime.migration"} == set(TENANTS)


def test_drift_builds_its_scratch_schema_without_alembic_lines(stock: Site) -> None:
    site = fresh(stock)
    migrate(site, "-q")

    result = site.run("drift")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "sqlalchemy_orm: 4 match their migrations" in result.stdout
    assert ALEMBIC_INFO not in result.stdout + result.stderr
    assert "hello from r1" not in result.stdout + result.stderr


# -- a real terminal ------------------------------------------------------------------------------
_CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])")


def screen_of(output: str, width: int) -> list[str]:
    """What a terminal `width` columns wide shows (scrollback included) after `output`: enough of a VT100
    for what Rich's live view writes (cursor up, erase line, carriage return), colours ignored."""
    lines: list[list[str]] = [[]]
    row = col = 0
    i = 0
    while i < len(output):
        match = _CSI.match(output, i)
        if match:
            args, op = match.groups()
            n = int(args) if args.isdigit() else 1
            if op == "A":
                row = max(row - n, 0)
            elif op == "B":
                row += n
            elif op == "K" and args in ("", "0"):
                del lines[row][col:]
            elif op == "K" and args == "2":
                lines[row] = []
            elif op == "G":
                col = n - 1
            i = match.end()
            while len(lines) <= row:
                lines.append([])
            continue
        char = output[i]
        i += 1
        if char == "\r":
            col = 0
        elif char == "\n":
            row += 1
        elif char == "\x1b" or char < " ":
            continue
        else:
            if col >= width:
                row, col = row + 1, 0
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (col - len(line)))
            line[col : col + 1] = [char]
            col += 1
        while len(lines) <= row:
            lines.append([])
    return ["".join(line).rstrip() for line in lines]


def run_in_terminal(args: list[str], cwd: Path, width: int, height: int) -> tuple[int, str]:
    """Run `args` with a pseudo-terminal of this size as stdin, stdout and stderr: exit code, what it wrote."""
    import fcntl
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    env = clean_environment(TERM="xterm-256color", COLUMNS=str(width), LINES=str(height))
    env.pop("CI", None)
    proc = subprocess.Popen(args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer has gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_live_view_with_two_workers_is_not_broken_by_alembic_logging(stock: Site) -> None:
    site = fresh(stock)
    args = [*CLI, "migrate", "--jobs", "2", "--settings", site.module, "--pythonpath", str(site.root)]

    code, written = run_in_terminal(args, site.root, width=100, height=30)

    screen = screen_of(written, 100)
    assert code == 0, "\n".join(screen)
    assert not [line for line in screen if "[alembic" in line or "hello from r1" in line], "\n".join(screen)
    bars = [line for line in screen if line.startswith("overall")]
    assert len(bars) == 1 and "8/8" in bars[0], "\n".join(screen)  # one frame left: the final one
    frame = screen[: screen.index(bars[0]) + 1]
    sections = [line for line in frame if line.startswith(("django_orm", "sqlalchemy_orm"))]
    assert sections == ["django_orm  4 migrated", "sqlalchemy_orm  4 migrated"], "\n".join(screen)
    rows = [line.split() for line in frame if line.startswith(tuple(f"{t}/default" for t in TENANTS))]
    assert len(rows) == 8 and all(row[1] == "migrated" for row in rows), "\n".join(screen)


# -- item 13 --------------------------------------------------------------------------------------
def test_makemigrations_says_nothing_about_unbound_templates(tmp_path: Path) -> None:
    example = clinic_copy(tmp_path)

    result = run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], example)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
    assert "No tenant is bound" not in result.stderr, result.stderr
    assert "Warning" not in result.stderr, result.stderr


def test_an_unbound_use_still_raises(tmp_path: Path) -> None:
    example = clinic_copy(tmp_path)
    code = "from django.db import connection\nconnection.cursor()"

    result = run([sys.executable, "manage.py", "shell", "-c", code], example)

    assert result.returncode != 0
    assert "TemplateAccessError: No tenant is bound: DATABASES['default'] is a tenant-router template" in (
        result.stderr
    )


# -- in this process: the caller's own callback --------------------------------------------------------
def test_what_the_callers_callback_prints_reaches_its_stdout(
    site: TenantSite, capsys: pytest.CaptureFixture[str]
) -> None:
    from tenant_router import OutputLogged, migrate_tenants

    seen: list[object] = []

    def on_event(event: object) -> None:
        seen.append(event)
        print(f"callback saw {type(event).__name__}")
        logging.getLogger("caller").warning("callback logged")

    report = migrate_tenants(on_event=on_event)  # type: ignore[arg-type]

    assert report.ok
    out = capsys.readouterr()
    finished = [e for e in seen if type(e).__name__ == "TenantFinished"]
    assert len(finished) > len(site.databases) - 1
    assert out.out.count("callback saw TenantFinished") == len(finished)
    assert not [e for e in seen if isinstance(e, OutputLogged)]  # its own writes are not the run's output
