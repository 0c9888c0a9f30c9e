"""Issue 11 items 5, 15, 16, 17: what a person at a terminal (or reading a log) sees.

Hostile tenant ids in every human output mode, and the live view rendered to a string with a fixed-size
Rich console (what fits, what stays visible, what a stop looks like).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.sites import Database, TenantSite, activate
from support.terminal import render, terminal, text_of

from tenant_router import load_config, migrate_tenants
from tenant_router.record.events import (
    RunStarted,
    Status,
    StepStarted,
    TenantFailed,
    TenantFinished,
    TenantPlanned,
    TenantSkipped,
    TenantStarted,
)
from tenant_router.record.report import MigrationReport
from tenant_router_cli.exit_codes import ExitCode
from tenant_router_cli.live import LiveProgress
from tenant_router_cli.render import render_summary

HOSTILE = ["[/x]", "a:b:c", "new\nline", "\x1b[31mred", "nul\x00byte", "*", "ünïcödé-☃", "x" * 5000]
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")  # anything but \n and \t written raw
HEAD = "patients.0003_visit_index"


@pytest.fixture
def hostile(tmp_path: Path):  # type: ignore[no-untyped-def]
    site = TenantSite(tmp_path)
    for i, tenant in enumerate(HOSTILE):
        site.databases.append(Database(tenant, {"NAME": f"db{i}.sqlite3"}, path=tmp_path / f"db{i}.sqlite3"))
    yield from activate(site)


def assert_escaped(text: str) -> None:
    assert not RAW_CONTROL.search(text), repr(RAW_CONTROL.search(text))
    assert "🅱" not in text and "a:b:c" in text
    assert "[/x]" in text
    assert "new\\nline" in text and "\\x1b[31mred" in text and "nul\\x00byte" in text
    assert "ünïcödé-☃" in text


# -- item 5: hostile ids ---------------------------------------------------------------------------------


def test_plain_migrate_status_and_plan_escape_hostile_ids(hostile: TenantSite) -> None:
    settings = ["--settings", hostile.settings_module]
    plan = hostile.invoke("migrate", "--plan", *settings)
    run = hostile.invoke("migrate", "--jobs", "1", *settings)
    status = hostile.invoke("status", "--tenants", *settings)

    for result in (plan, run, status):
        assert result.exit_code == ExitCode.OK, result.output
        assert_escaped(result.stdout + result.stderr)
    # One line per event: a newline in an id forges no line of its own.
    assert not any(line.startswith("line/default") for line in run.stdout.splitlines())
    assert sum("new\\nline/default" in line for line in run.stdout.splitlines()) == 2  # started, migrated
    assert all(db.table_names() for db in hostile.databases)


def test_json_keeps_hostile_ids_exact(hostile: TenantSite) -> None:
    result = hostile.invoke("migrate", "--jobs", "1", "--json", "--settings", hostile.settings_module)

    assert result.exit_code == ExitCode.OK, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    assert {r["tenant"] for r in report["results"]} - {None} == set(HOSTILE)


def test_live_view_and_summary_escape_hostile_ids(hostile: TenantSite) -> None:
    """The live view (which crashed on `[/x]`) and the terminal summary, through a real run."""
    output = terminal(200, 60)
    live = LiveProgress(output)
    report = migrate_tenants(load_config(), on_event=live)
    render_summary(output, report)

    assert report.ok
    shown = "\n".join(render(live, 200, 60))
    assert_escaped(shown)
    assert "Result: " in text_of(output.out) and "9 database(s)" in text_of(output.out)

    failed = MigrationReport()
    for tenant in HOSTILE:
        failed.emit(TenantFailed("django_orm", tenant, "default", f"boom in {tenant}", "[bold]x[/]", 0.1))
    out = terminal(200, 60)
    render_summary(out, failed)
    assert_escaped(text_of(out.out))
    assert "[bold]x[/]" in text_of(out.out)


# -- items 15, 16, 17: the live view fits the terminal --------------------------------------------------

ROW_LINE = re.compile(r"\d+\.\ds$")


def fleet(live: LiveProgress, tenants: int = 200) -> None:
    """Two ORMs of `tenants` databases: Django done (some failed), SQLAlchemy half-way with 20 running."""
    live(RunStarted(2 * tenants, ("django_orm", "sqlalchemy_orm")))
    for i in range(tenants):
        tenant = f"tenant-{i:04d}-with-a-rather-long-identifier"
        if i % 50 == 7:
            live(TenantFailed("django_orm", tenant, "default", "OperationalError: x", "patients.0002_x", 0.3))
        else:
            live(TenantFinished("django_orm", tenant, "default", Status.MIGRATED, 3, HEAD, 0.2))
    for i in range(tenants):
        tenant = f"tenant-{i:04d}-with-a-rather-long-identifier"
        if i < tenants // 2:
            live(
                TenantFinished("sqlalchemy_orm", tenant, "default", Status.UP_TO_DATE, 0, "c3000000003c", 0.0)
            )
        elif i < tenants // 2 + 20:
            live(TenantStarted("sqlalchemy_orm", tenant, "default"))
            steps = ("a1000000001a_a_long_revision_name", "b2000000002b_ledger_and_seed_data")
            live(TenantPlanned("sqlalchemy_orm", tenant, "default", steps, None))
            live(StepStarted("sqlalchemy_orm", tenant, "default", steps[0]))


@pytest.mark.parametrize(("width", "height"), [(80, 24), (160, 50), (100, 30)])
def test_live_view_fits_the_terminal_with_both_orms_and_the_bar(width: int, height: int) -> None:
    live = LiveProgress(terminal(width, height))
    fleet(live)

    lines = render(live, width, height)

    assert len(lines) <= height, len(lines)
    assert all(len(line) <= width for line in lines)
    assert any(line.startswith("django_orm") for line in lines)
    assert any(line.startswith("sqlalchemy_orm") for line in lines)
    assert lines[-1].lstrip().startswith("overall") and f"{200 + 100}/400" in lines[-1]
    rows = [line for line in lines if line.startswith("tenant-")]
    assert rows and all(ROW_LINE.search(line) for line in rows), rows  # no row wraps onto a second line
    assert sum("running" in line or "migrating" in line for line in rows) >= min(20, len(rows) // 2)
    assert any("failed" in line for line in rows)  # failures stay in view


def test_summary_headers_fit_80_columns(tmp_path: Path) -> None:
    report = MigrationReport()
    for status in Status:
        report.emit(TenantSkipped("django_orm", f"t-{status}", "default", "x", status))
        report.emit(TenantSkipped("sqlalchemy_orm", f"t-{status}", "default", "x", status))
    output = terminal(80, 24)
    render_summary(output, report)

    shown = text_of(output.out)
    assert "…" not in shown
    for word in ("migrated", "up to date", "failed", "not started", "interrupted", "locked"):
        assert word in shown
    assert all(len(line) <= 80 for line in shown.splitlines())


def test_stop_shows_a_notice_counts_not_started_and_the_bar_is_not_full() -> None:
    live = LiveProgress(terminal(100, 30))
    live(RunStarted(200, ("django_orm",)))
    for i in range(93):
        live(TenantFinished("django_orm", f"t{i}", "default", Status.MIGRATED, 1, HEAD, 0.1))
    live.stopping()
    for i in range(93, 200):
        live(TenantSkipped("django_orm", f"t{i}", "default", "interrupted", Status.NOT_STARTED))

    lines = render(live, 100, 30)

    assert "stopping after the current migration; Ctrl-C again to abort" in "\n".join(lines)
    assert "93/200" in lines[-1] and "200/200" not in lines[-1]
    assert any("107 not started" in line for line in lines)
    assert not any("not started" in line for line in lines if line.startswith("t"))  # no dump


def test_interrupted_summary_ends_with_the_plain_interrupted_line() -> None:
    report = MigrationReport()
    report.emit(TenantFinished("django_orm", "t1", "default", Status.MIGRATED, 1, HEAD, 0.1))
    for i in range(107):
        report.emit(TenantSkipped("django_orm", f"t{i + 2}", "default", "interrupted", Status.NOT_STARTED))
    report.interrupted, report.stop_reason = True, "interrupted"
    output = terminal(100, 30)
    render_summary(output, report)

    shown = text_of(output.out)
    assert "Interrupted: no new database was started" in shown
    assert "Not started: 107 database(s)" in shown
    assert "t57" not in shown  # a count, not a dump


def test_up_to_date_rows_show_the_current_migration() -> None:
    live = LiveProgress(terminal(160, 50))
    live(RunStarted(1, ("django_orm",)))
    live(TenantFinished("django_orm", "tenant-1", "default", Status.UP_TO_DATE, 0, HEAD, 0.0))

    row = next(line for line in render(live, 160, 50) if line.startswith("tenant-1"))

    assert HEAD in row and "0/?" not in row and "up to date" in row


def test_first_ctrl_c_shows_the_notice_in_the_live_view_not_on_stderr() -> None:
    import os
    import signal

    from tenant_router.safety import cancel
    from tenant_router_cli.signals import graceful_interrupts

    output = terminal(100, 30)
    live = LiveProgress(output)
    live(RunStarted(2, ("django_orm",)))
    cancel.reset()
    try:
        with graceful_interrupts(output, live):
            os.kill(os.getpid(), signal.SIGINT)
            assert cancel.stop_requested()
    finally:
        cancel.reset()

    assert text_of(output.err) == ""  # nothing written across the live view
    lines = render(live, 100, 30)
    assert "stopping after the current migration; Ctrl-C again to abort" in lines[-2]
    assert lines[-1].lstrip().startswith("stopping")
