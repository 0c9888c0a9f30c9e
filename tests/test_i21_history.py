"""Issue 21 (first part): `migrate --metrics-file` (Prometheus text format, for node_exporter's textfile
collector) and the run history (`runs`, `runs show RUN`), on real runs of SQLite sites."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.clinic import add_gate, arrivals, clinic_copy
from support.processes import EXE, Streamed, events, is_event, report_of, wait_until
from support.sites import TenantSite
from typer.testing import CliRunner

from tenant_router_cli.app import app
from tenant_router_cli.exit_codes import ExitCode

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(path: Path) -> Samples:
    """Every sample of a metrics file, parsed back with prometheus_client's own parser."""
    found: Samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def history(journal: Path, *args: str) -> Any:
    """`tenant-router runs ...` in-process on a journal folder (the run may have been another process)."""
    return CliRunner().invoke(
        app,
        ["runs", *args, "--settings", "trsite.settings", "--journal", str(journal)],
        catch_exceptions=False,
    )


def show(journal: Path, run: str, *args: str) -> Any:
    return CliRunner().invoke(
        app,
        ["runs", "show", run, *args, "--settings", "trsite.settings", "--journal", str(journal)],
        catch_exceptions=False,
    )


def hold_write_lock(path: Path) -> sqlite3.Connection:
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the write lock, as a busy application holds it
    return writer


# -- the metrics file ------------------------------------------------------------------------------


def test_metrics_file_counts_outcomes_durations_lock_waits_and_requeues(
    site: TenantSite, tmp_path: Path
) -> None:
    """tenant-1 migrates, tenant-2 is held by a writer (busy, requeued once), tenant-3 fails."""
    journal = tmp_path / "journal"
    setup = site.invoke("migrate", "--settings", site.settings_module, "--orm", "django_orm",
                        "--target", "patients", "0001_initial", "--no-journal")  # fmt: skip
    assert setup.exit_code == 0, setup.output
    site.databases[2].execute("CREATE INDEX visit_patient_at ON patients_visit (id)")  # 0003 will collide
    metrics = tmp_path / "textfile" / "tenant_router.prom"
    metrics.parent.mkdir()
    writer = hold_write_lock(site.databases[1].path)  # type: ignore[arg-type]
    try:
        result = site.invoke(
            "migrate", "--settings", site.settings_module, "--jobs", "1", "--json", "--journal", str(journal),
            "--lock-wait", "0.2", "--lock-retries", "1", "--lock-retry-delay", "0", "--metrics-file", str(metrics),
        )  # fmt: skip
    finally:
        writer.rollback()
        writer.close()

    assert result.exit_code == ExitCode.FAILED, result.output
    report = report_of(result.stdout)
    found = samples(metrics)
    statuses = Counter((r["orm"], r["status"]) for r in report["results"])
    for (orm, status), n in statuses.items():
        assert value(found, "tenant_router_databases", orm=orm, status=status) == n, (orm, status, found)
    assert value(found, "tenant_router_databases", orm="django_orm", status="failed") == 1
    assert value(found, "tenant_router_databases", orm="django_orm", status="busy") == 1
    assert value(found, "tenant_router_databases", orm="django_orm", status="locked") == 0  # zeros are there
    tried = [
        r for r in report["results"] if r["status"] in ("migrated", "failed", "busy")
    ]  # not up-to-date ones
    assert value(found, "tenant_router_database_duration_seconds_count", orm="django_orm") == len(tried)
    applied = sum(e["event"] == "step_applied" for e in events(result.stdout))
    assert value(found, "tenant_router_step_duration_seconds_count", orm="django_orm") == applied
    assert value(found, "tenant_router_lock_waits_total", orm="django_orm") == 2  # the try and the retry
    assert value(found, "tenant_router_requeues_total", orm="django_orm") == 1
    assert value(found, "tenant_router_workers_lost_total") == 0
    assert value(found, "tenant_router_run_exit_code") == ExitCode.FAILED
    start = value(found, "tenant_router_run_start_timestamp_seconds")
    end = value(found, "tenant_router_run_end_timestamp_seconds")
    assert start and end and start <= end
    text = metrics.read_text()
    assert "tenant-" not in text and "sqlite3" not in text  # no tenant id, no database name in a label
    assert {key for (_, labels) in found for key, _ in labels} <= {"orm", "status", "le"}
    assert [p.name for p in metrics.parent.iterdir()] == [metrics.name]  # no temporary file left


def test_metrics_file_without_prometheus_client_exits_2_naming_the_extra(
    site: TenantSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # `import prometheus_client` fails

    result = site.invoke("migrate", "--settings", site.settings_module, "--no-journal",
                         "--metrics-file", str(tmp_path / "m.prom"))  # fmt: skip

    assert result.exit_code == ExitCode.USAGE, result.output
    lines = result.stderr.strip().splitlines()
    assert "--metrics-file" in lines[0] and "tenant-router[metrics]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not any(db.table_names() for db in site.databases)  # nothing was touched


def test_metrics_file_in_a_missing_folder_exits_2_before_anything_is_touched(
    site: TenantSite, tmp_path: Path
) -> None:
    target = tmp_path / "no-such-folder" / "m.prom"

    result = site.invoke("migrate", "--settings", site.settings_module, "--no-journal",
                         "--metrics-file", str(target))  # fmt: skip

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--metrics-file" in result.stderr and str(target) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not any(db.table_names() for db in site.databases)


# -- the run history ---------------------------------------------------------------------------------


def test_runs_lists_when_where_how_counts_duration_and_exit_code(site: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    site.databases[2].execute("CREATE TABLE patients_visit (id integer)")  # 0001_initial will collide
    failed = site.invoke("migrate", "--settings", site.settings_module, "--journal", str(journal),
                         "--jobs", "1", "--tenant", "tenant-*", "--exclude", "tenant-2", "--no-progress")  # fmt: skip
    assert failed.exit_code == ExitCode.FAILED, failed.output
    again = site.invoke("migrate", "--settings", site.settings_module, "--journal", str(journal),
                        "--jobs", "2", "--orm", "django_orm", "--no-progress")  # fmt: skip
    assert again.exit_code == ExitCode.FAILED, again.output

    listed = history(journal)

    assert listed.exit_code == ExitCode.OK, listed.output
    rows = listed.stdout.strip().splitlines()
    assert len(rows) == 2, listed.stdout
    newest, oldest = rows
    host = socket.gethostname()
    assert f"on {host}" in oldest and "exit 1" in oldest, oldest
    assert "--tenant tenant-* --exclude tenant-2" in oldest and "processes, jobs 1" in oldest, oldest
    assert "migrated" in oldest and "1 failed" in oldest, oldest
    assert "processes, jobs 2" in newest and "--orm django_orm" in newest, newest
    as_json = json.loads(history(journal, "--json").stdout)
    first = as_json["runs"][1]
    assert (first["host"], first["exit_code"]) == (host, 1) and first["finished"], first
    assert first["options"]["executor"]["jobs"] == 1
    assert first["options"]["selection"]["tenants"] == ["tenant-*"]
    assert first["counts"]["failed"] == 1 and first["seconds"] > 0


def test_runs_show_gives_each_database_its_outcome_steps_and_timings(
    site: TenantSite, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    site.databases[2].execute("CREATE TABLE patients_visit (id integer)")
    run = site.invoke("migrate", "--settings", site.settings_module, "--journal", str(journal),
                      "--jobs", "1", "--json")  # fmt: skip
    assert run.exit_code == ExitCode.FAILED, run.output
    report = report_of(run.stdout)
    applied = [e for e in events(run.stdout) if e["event"] == "step_applied"]

    shown = show(journal, "last", "--json")

    assert shown.exit_code == ExitCode.OK, shown.output
    [line] = shown.stdout.strip().splitlines()  # one JSON document
    doc = json.loads(line)
    assert doc["run"] == report["run"] and doc["exit_code"] == ExitCode.FAILED and doc["finished"]
    assert doc["unrecorded"] == []
    by_tenant = {(d["orm"], d["tenant"], d["alias"]): d for d in doc["databases"]}
    one = by_tenant[("django_orm", "tenant-1", "default")]
    assert one["status"] == "migrated" and one["seconds"] > 0
    mine = [e for e in applied if e["tenant"] == "tenant-1"]
    assert [s["step"] for s in one["steps"]] == [e["step"] for e in mine]
    assert all(s["seconds"] >= 0 for s in one["steps"]) and one["began"] >= 0
    three = by_tenant[("django_orm", "tenant-3", "default")]
    assert three["status"] == "failed" and three["failed_step"] == "patients.0001_initial"
    assert "already exists" in three["error"]

    plain = show(journal, doc["run"][:18])  # a unique prefix will do
    assert plain.exit_code == ExitCode.OK, plain.output
    assert f"Run {doc['run']}" in plain.stdout
    assert "exit 1" in plain.stdout
    assert "tenant-3/default" in plain.stdout and "FAILED at patients.0001_initial" in plain.stdout
    steps = show(journal, "last", "--steps").stdout
    assert "patients.0003_visit_index" in steps, steps


def test_runs_show_names_an_unknown_or_ambiguous_run_in_one_line(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    for run in ("20261201T000000Z-aaaa", "20261201T000000Z-aaab"):
        (journal / f"{run}.jsonl").write_text(json.dumps({"journal": 1, "run": run, "started": "x"}) + "\n")

    unknown = show(journal, "2025")
    ambiguous = show(journal, "20261201T000000Z-aaa")

    assert unknown.exit_code == ExitCode.USAGE and "'2025'" in unknown.stderr, unknown.output
    assert ambiguous.exit_code == ExitCode.USAGE, ambiguous.output
    assert "matches 2 runs" in ambiguous.stderr and "Traceback" not in ambiguous.stderr, ambiguous.stderr


OLD_JOURNAL = [
    {"journal": 1, "run": "20261124T073512Z-3f9a", "started": "2026-11-24T07:35:12+00:00",
     "tenants": ["t1", "t2"], "databases": [["django_orm", "t1", "default"], ["django_orm", "t2", "default"]],
     "pid": 4242, "clock": 1795000000.0, "argv": ["migrate", "--settings", "x"]},
    {"orm": "django_orm", "tenant": "t1", "alias": "default", "status": "migrated", "applied": 3, "current": "a.0003"},
    {"orm": "django_orm", "tenant": "t2", "alias": "default", "status": "failed", "error": "Boom: no",
     "step": "a.0002", "current": "a.0001"},
    {"finished": "2026-11-24T07:35:14+00:00", "seconds": 1.5, "counts": {"migrated": 1, "failed": 1},
     "interrupted": False, "stopped": None},
]  # fmt: skip


def test_a_journal_written_before_the_history_is_still_listed_and_shown(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "20261124T073512Z-3f9a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in OLD_JOURNAL))

    listed = history(journal)
    shown = show(journal, "20261124")
    doc = json.loads(show(journal, "last", "--json").stdout)

    assert listed.exit_code == ExitCode.OK, listed.output
    assert "1.5s" in listed.stdout and "exit ?" in listed.stdout and "on ?" in listed.stdout, listed.stdout
    assert "1 migrated, 1 failed" in listed.stdout
    assert shown.exit_code == ExitCode.OK, shown.output
    assert "t2/default" in shown.stdout and "FAILED at a.0002: Boom: no" in shown.stdout, shown.stdout
    assert doc["exit_code"] is None and doc["host"] is None and doc["databases"][0]["steps"] is None


# -- real processes: a lost worker, a kill, an interrupt -------------------------------------------------


@pytest.fixture
def gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The clinic example (three SQLite tenants) whose gate migration holds tenant-2 until opened."""
    example = clinic_copy(tmp_path)
    add_gate(example)
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "only").write_text("tenant-2.sqlite3\n")
    monkeypatch.setenv("TR_GATE_DIR", str(gate))
    return example, gate


def django_run(example: Path, journal: Path, *extra: str) -> list[str]:
    return [
        EXE, "migrate", "--settings", "clinic.settings", "--pythonpath", str(example),
        "--orm", "django_orm", "--journal", str(journal), "--json", *extra,
    ]  # fmt: skip


def test_metrics_file_is_rewritten_during_the_run_and_counts_a_lost_worker(
    gated: tuple[Path, Path], tmp_path: Path
) -> None:
    """--jobs 2: tenant-1 and tenant-3 migrate while tenant-2 waits at the gate; the metrics file says so
    before the run ends; then tenant-2's worker is killed: a lost worker, a failure, exit 1."""
    example, gate = gated
    journal, metrics = tmp_path / "journal", tmp_path / "m.prom"
    run = Streamed(django_run(example, journal, "--jobs", "2", "--metrics-file", str(metrics),
                              "--metrics-interval", "0.2"), example)  # fmt: skip
    try:
        [mark] = wait_until(lambda: arrivals(gate) or run.proc.poll() is not None, "tenant-2 at the gate")
        assert run.proc.poll() is None, run.stderr()
        mid = wait_until(
            lambda: (
                metrics.exists()
                and (found := samples(metrics))
                and value(found, "tenant_router_databases", orm="django_orm", status="migrated") == 3
                and found
            ),
            "the metrics file to show three migrated databases",
        )
        assert run.proc.poll() is None  # written during the run, not at its end
        assert value(mid, "tenant_router_run_exit_code") is None
        assert value(mid, "tenant_router_run_start_timestamp_seconds")
        os.kill(int(mark.split("-", 1)[0]), signal.SIGKILL)  # the worker holding tenant-2
        code, out, err = run.finish()
    finally:
        run.kill()

    assert code == ExitCode.FAILED, err
    found = samples(metrics)
    assert value(found, "tenant_router_workers_lost_total") == 1
    assert value(found, "tenant_router_databases", orm="django_orm", status="failed") == 1
    assert value(found, "tenant_router_run_exit_code") == ExitCode.FAILED
    assert any(e["event"] == "worker_lost" for e in events(out))

    listed = history(journal)
    assert "exit 1" in listed.stdout and "processes, jobs 2" in listed.stdout, listed.stdout
    doc = json.loads(show(journal, "last", "--json").stdout)
    two = next(d for d in doc["databases"] if d["tenant"] == "tenant-2")
    assert two["status"] == "failed" and "worker process died" in two["error"], two
    assert doc["workers_lost"] == 1


def test_a_killed_run_is_shown_without_claiming_outcomes_the_journal_does_not_hold(
    gated: tuple[Path, Path], tmp_path: Path
) -> None:
    example, gate = gated
    journal = tmp_path / "journal"
    run = Streamed(django_run(example, journal, "--jobs", "1"), example)
    try:
        run.wait_for(is_event("tenant_finished", tenant="tenant-1"))
        wait_until(lambda: arrivals(gate) or run.proc.poll() is not None, "tenant-2 at the gate")
        run.proc.send_signal(signal.SIGKILL)
        run.finish()
    finally:
        run.kill()

    listed = history(journal)
    plain = show(journal, "last")
    doc = json.loads(show(journal, "last", "--json").stdout)

    assert "ended without a footer (killed?)" in listed.stdout and "exit" not in listed.stdout, listed.stdout
    assert plain.exit_code == ExitCode.OK, plain.output
    assert "ended without a footer (killed?)" in plain.stdout
    assert "tenant-1/default" in plain.stdout and "migrated" in plain.stdout
    recorded, unrecorded = plain.stdout.split("No outcome recorded", 1)
    assert "tenant-2/default" in unrecorded and "tenant-3/default" in unrecorded, plain.stdout
    assert "tenant-2" not in recorded and "tenant-3" not in recorded, plain.stdout
    assert "not started" not in recorded and "FAILED" not in plain.stdout, plain.stdout
    assert doc["finished"] is None and doc["exit_code"] is None and doc["seconds"] is None
    assert [(u["tenant"], u["alias"]) for u in doc["unrecorded"]] == [
        ("tenant-2", "default"),
        ("tenant-3", "default"),
    ]
    assert {d["tenant"] for d in doc["databases"]} == {None, "tenant-1"}  # central and tenant-1 only


def test_an_interrupted_run_is_listed_with_exit_130(gated: tuple[Path, Path], tmp_path: Path) -> None:
    example, gate = gated
    journal = tmp_path / "journal"
    run = Streamed(django_run(example, journal, "--jobs", "1"), example)
    try:
        wait_until(lambda: arrivals(gate) or run.proc.poll() is not None, "tenant-2 at the gate")
        run.proc.send_signal(signal.SIGINT)
        run.wait_for_error("stopping after the running migrations")
        (gate / "open").touch()
        code, _, err = run.finish()
    finally:
        run.kill()

    assert code == ExitCode.INTERRUPTED, err
    listed = history(journal)
    assert "interrupted" in listed.stdout and "exit 130" in listed.stdout, listed.stdout
    doc = json.loads(show(journal, "last", "--json").stdout)
    assert doc["exit_code"] == ExitCode.INTERRUPTED and doc["interrupted"] is True
    three = next(d for d in doc["databases"] if d["tenant"] == "tenant-3")
    assert three["status"] == "not_started"  # the journal holds it: the run said so before it ended


def test_a_footerless_run_whose_process_is_alive_here_may_still_be_running(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    header = {
        **OLD_JOURNAL[0],
        "run": "20261205T000000Z-beef",
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
    (journal / "20261205T000000Z-beef.jsonl").write_text(json.dumps(header) + "\n")

    listed = history(journal)
    doc = json.loads(show(journal, "last", "--json").stdout)

    assert "ended without a footer (killed?) or still running" in listed.stdout, listed.stdout
    assert f"pid {os.getpid()} is alive on this host" in listed.stdout
    assert doc["alive"] is True and doc["finished"] is None


def test_the_history_never_prints_a_password_from_a_command_line(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    argv = ["migrate", "--settings", "x", "--tenant", "postgres://app:hunter2secret@db.internal/t1"]
    header = {**OLD_JOURNAL[0], "argv": argv}
    (journal / f"{header['run']}.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in [header, *OLD_JOURNAL[1:]])
    )

    outputs = [
        history(journal),
        history(journal, "--json"),
        show(journal, "last"),
        show(journal, "last", "--json"),
    ]

    for result in outputs:
        assert result.exit_code == ExitCode.OK, result.output
        assert "hunter2secret" not in result.stdout + result.stderr, result.stdout
    assert "db.internal" in outputs[0].stdout and "db.internal" in outputs[2].stdout  # the rest is shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--metrics-interval", "0"), "--metrics-interval must be a finite number of seconds above 0"),
        (("--metrics-interval", "nan"), "--metrics-interval must be a finite number of seconds above 0"),
        (("--plan",), "--metrics-file is written by a run; --plan and --check do not run"),
    ],
)
def test_metrics_options_are_checked_before_anything_is_touched(
    site: TenantSite, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = site.invoke("migrate", "--settings", site.settings_module, "--no-journal",
                         "--metrics-file", str(tmp_path / "m.prom"), *args)  # fmt: skip

    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith(f"error: {message}"), result.stderr
    assert not any(db.table_names() for db in site.databases)
    assert not (tmp_path / "m.prom").exists()
