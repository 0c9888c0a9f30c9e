"""Issue 21, a picture of a run: `tenant-router runs show RUN --html FILE` draws one run's journal.

Real runs (SQLite tenants, forked workers, a failing tenant, a run killed with SIGKILL, a run still going),
the page's embedded data read back, and the page opened in headless Chromium.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import signal
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from support.clinic import add_gate, arrivals, clinic_copy, migrate_args, write_django_tenants
from support.processes import EXE, Streamed, clean_environment, is_event, run, wait_until
from support.sites import Database, TenantSite, activate

from tenant_router.record.events import (
    Status,
    StepApplied,
    TenantBusy,
    TenantFailed,
    TenantFinished,
    TenantRequeued,
    TenantStarted,
)
from tenant_router.record.journal import Journal, header_for
from tenant_router.record.report import MigrationReport
from tenant_router_cli.exit_codes import ExitCode

BROKEN = "CREATE TABLE patients_patient (id integer)"  # patients.0001_initial then fails on it
HOSTILE = 'x</script><script>alert("pwned")</script>\'"\n\x1b[31m é 漢 🙂'
DATA = re.compile(r'<script type="application/json" id="run-data">(.*?)</script>', re.S)


def page_data(page: Path) -> dict[str, Any]:
    """The JSON the page embeds, parsed back as the browser would."""
    text = page.read_text(encoding="utf-8")
    (found,) = DATA.findall(text)
    data: dict[str, Any] = json.loads(found)
    return data


def by_tenant(data: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {bar["tenant"]: bar for bar in data["databases"]}


@pytest.fixture
def fleet(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Four SQLite tenants, the second with a hostile id."""
    site = TenantSite(tmp_path)
    for i, tenant in enumerate(["tenant-1", HOSTILE, "tenant-3", "tenant-4"], 1):
        path = tmp_path / f"t{i}.sqlite3"
        site.databases.append(Database(tenant, {"NAME": path.name}, path=path))
    yield from activate(site)


def migrate_and_draw(site: TenantSite, tmp_path: Path) -> tuple[Any, Path]:
    """A --jobs 2 run where tenant-3 fails, then its page."""
    journal = tmp_path / "journal"
    site.db("tenant-3").execute(BROKEN)
    result = site.invoke(
        "migrate", "--settings", site.settings_module, "--journal", str(journal), "--jobs", "2"
    )
    assert result.exit_code == ExitCode.FAILED, result.output
    page = tmp_path / "run.html"
    drawn = site.invoke("runs", "show", "--settings", site.settings_module, "--journal", str(journal),
                        "last", "--html", str(page))  # fmt: skip
    assert drawn.exit_code == ExitCode.OK, drawn.output
    assert str(page) in drawn.stdout
    return drawn, page


def test_page_of_a_run_with_workers_and_a_failure(fleet: TenantSite, tmp_path: Path) -> None:
    _, page = migrate_and_draw(fleet, tmp_path)

    data = page_data(page)
    bars = by_tenant(data)
    assert set(bars) == {"tenant-1", HOSTILE, "tenant-3", "tenant-4", None}  # None: the central database
    assert bars[None]["alias"] == "central" and bars[None]["outcome"] in ("migrated", "up_to_date")
    for tenant in ("tenant-1", HOSTILE, "tenant-4"):
        bar = bars[tenant]
        assert bar["outcome"] == "migrated" and bar["orm"] == "django_orm" and bar["alias"] == "default"
        assert bar["lane"].startswith("pid "), bar  # drawn in the lane of the worker that ran it
        assert bar["steps"] and bar["steps"][-1][0] == "patients.0003_visit_index"
        assert bar["start"] <= bar["steps"][0][1] <= bar["steps"][-1][2] <= bar["end"]
    failed = bars["tenant-3"]
    assert failed["outcome"] == "failed" and "already exists" in failed["error"]
    assert failed["step"] == "patients.0001_initial"
    assert data["state"] == "finished" and data["counts"]["failed"] == 1
    assert 1 <= len([lane for lane in data["lanes"] if lane.startswith("pid ")]) <= 2
    text = page.read_text(encoding="utf-8")
    assert "<script>alert" not in text and "</script><script>" not in text  # the hostile id stays data
    assert '<meta http-equiv="refresh"' not in text  # a finished run is not refreshed
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched from anywhere


def test_bad_run_and_unwritable_page_are_one_line_each(fleet: TenantSite, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    common = ["runs", "show", "--settings", fleet.settings_module, "--journal", str(journal)]
    result = fleet.invoke("migrate", "--settings", fleet.settings_module, "--journal", str(journal))
    assert result.exit_code == ExitCode.OK, result.output

    again = fleet.invoke("migrate", "--settings", fleet.settings_module, "--journal", str(journal))
    assert again.exit_code == ExitCode.OK, again.output

    unknown = fleet.invoke(*common, "1999", "--html", str(tmp_path / "p.html"))
    ambiguous = fleet.invoke(*common, "20", "--html", str(tmp_path / "p.html"))
    unwritable = fleet.invoke(*common, "last", "--html", str(tmp_path / "no-such-dir" / "p.html"))
    no_html = fleet.invoke(*common, "last", "--refresh", "2")

    assert unknown.exit_code == ExitCode.USAGE and "'1999'" in unknown.stderr, unknown.output
    assert unwritable.exit_code == ExitCode.USAGE and "no-such-dir" in unwritable.stderr, unwritable.output
    assert no_html.exit_code == ExitCode.USAGE and "--refresh" in no_html.stderr, no_html.output
    assert ambiguous.exit_code == ExitCode.USAGE and "matches 2 runs" in ambiguous.stderr, ambiguous.output
    assert not (tmp_path / "p.html").exists() and not list(tmp_path.glob(".p.html.*"))
    for bad in (unknown, unwritable, no_html, ambiguous):
        assert len(bad.stderr.strip().splitlines()) <= 2 and "Traceback" not in bad.output, bad.output


def test_page_of_a_killed_run_draws_what_never_ended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL while tenant-2 waits at the gate: no closing line; tenant-2's bar has no outcome."""
    example = clinic_copy(tmp_path)
    add_gate(example)
    write_django_tenants(example, {f"tenant-{i}": {"NAME": f"var/tenant-{i}.sqlite3"} for i in (1, 2, 3)})
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "only").write_text("tenant-2.sqlite3\n")
    monkeypatch.setenv("TR_GATE_DIR", str(gate))
    journal = tmp_path / "journal"
    killed = Streamed(migrate_args(example, journal, "--jobs", "1", "--json"), example)
    try:
        killed.wait_for(is_event("tenant_finished", tenant="tenant-1"))
        wait_until(lambda: arrivals(gate), "tenant-2 at the gate")
        killed.proc.send_signal(signal.SIGKILL)
        killed.finish()
    finally:
        killed.kill()
    page = tmp_path / "killed.html"

    drawn = run([EXE, "runs", "show", "--settings", "clinic.settings", "--pythonpath", str(example),
                 "--journal", str(journal), "last", "--html", str(page), "--refresh", "5"], example)  # fmt: skip

    assert drawn.returncode == ExitCode.OK, drawn.stderr
    data = page_data(page)
    bars = by_tenant(data)
    assert data["state"] == "killed" and data["finished"] is None
    assert bars["tenant-1"]["outcome"] == "migrated"
    assert bars["tenant-2"]["outcome"] is None and bars["tenant-2"]["end"] == data["end"]
    assert "tenant-3" not in bars and ["django_orm", "tenant-3", "default"] in data["not_reached"]
    text = page.read_text(encoding="utf-8")
    assert "no outcome recorded" in text
    assert '<meta http-equiv="refresh"' not in text  # nothing will change: no refresh


def test_page_of_an_interrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT while tenant-2 waits at the gate: the run stops at a boundary, tenant-3 never starts."""
    example = clinic_copy(tmp_path)
    add_gate(example)
    write_django_tenants(example, {f"tenant-{i}": {"NAME": f"var/tenant-{i}.sqlite3"} for i in (1, 2, 3)})
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "only").write_text("tenant-2.sqlite3\n")
    monkeypatch.setenv("TR_GATE_DIR", str(gate))
    journal, page = tmp_path / "journal", tmp_path / "interrupted.html"
    stopped = Streamed(migrate_args(example, journal, "--jobs", "1", "--json"), example)
    try:
        wait_until(lambda: arrivals(gate), "tenant-2 at the gate")
        stopped.proc.send_signal(signal.SIGINT)
        stopped.wait_for_error("stopping")
        (gate / "open").touch()
        code, _, err = stopped.finish()
    finally:
        stopped.kill()
    assert code == ExitCode.INTERRUPTED, err

    drawn = run([EXE, "runs", "show", "--settings", "clinic.settings", "--pythonpath", str(example),
                 "--journal", str(journal), "last", "--html", str(page)], example)  # fmt: skip

    assert drawn.returncode == ExitCode.OK, drawn.stderr
    data = page_data(page)
    bars = by_tenant(data)
    assert data["state"] == "interrupted" and data["finished"]
    assert bars["tenant-1"]["outcome"] == "migrated"
    assert bars["tenant-3"]["outcome"] == "not_started" and bars["tenant-3"]["steps"] == []
    assert "interrupted" in page.read_text(encoding="utf-8").split("</header>")[0]


def test_live_page_is_refreshed_until_the_run_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = clinic_copy(tmp_path)
    add_gate(example)
    write_django_tenants(example, {f"tenant-{i}": {"NAME": f"var/tenant-{i}.sqlite3"} for i in (1, 2)})
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "only").write_text("tenant-2.sqlite3\n")
    monkeypatch.setenv("TR_GATE_DIR", str(gate))
    journal = tmp_path / "journal"
    page = tmp_path / "live.html"
    going = Streamed(migrate_args(example, journal, "--jobs", "2", "--json"), example)
    watcher = None
    try:
        wait_until(lambda: arrivals(gate), "tenant-2 at the gate")
        watcher = subprocess.Popen(
            [EXE, "runs", "show", "--settings", "clinic.settings", "--pythonpath", str(example), "--journal",
             str(journal), "last", "--html", str(page), "--refresh", "1"],
            cwd=example, env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_until(lambda: page.exists(), "the live page")
        text = page.read_text(encoding="utf-8")
        assert '<meta http-equiv="refresh" content="1">' in text
        assert page_data(page)["state"] == "running"
        assert by_tenant(page_data(page))["tenant-2"]["outcome"] is None
        (gate / "open").touch()
        code, _, err = going.finish()
        assert code == ExitCode.OK, err
        _, err = watcher.communicate(timeout=60)
        assert watcher.returncode == ExitCode.OK, err
    finally:
        going.kill()
        if watcher is not None and watcher.poll() is None:
            watcher.kill()
    data = page_data(page)
    assert data["state"] == "finished" and by_tenant(data)["tenant-2"]["outcome"] == "migrated"
    assert '<meta http-equiv="refresh"' not in page.read_text(encoding="utf-8")


def test_a_requeued_database_keeps_its_busy_attempt(tmp_path: Path) -> None:
    """Busy on one worker, requeued, migrated on another: one bar, the busy attempt kept beside it."""
    key = ("django_orm", "t1", "default")
    journal = Journal(tmp_path / "journal", header_for(["t1"], [key]))
    journal.record(TenantStarted(*key, worker="pid 7"))
    journal.record(StepApplied(*key, "app.0001_a", 0.01))
    journal.record(TenantBusy(*key, "app.0002_b: lock wait 3s", "app.0002_b", "app.0001_a", 3.1))
    journal.record(TenantRequeued(*key, "app.0002_b: lock wait 3s", 1, 3, 1.0))
    journal.record(TenantStarted(*key, worker="pid 8"))
    journal.record(StepApplied(*key, "app.0002_b", 0.01))
    journal.record(TenantFinished(*key, Status.MIGRATED, 1, "app.0002_b", 0.02))
    journal.close(MigrationReport())
    page = tmp_path / "requeued.html"
    from tenant_router import write_run_page

    write_run_page(journal.path, page)

    data = page_data(page)
    (bar,) = data["databases"]
    assert (bar["outcome"], bar["lane"], [s[0] for s in bar["steps"]]) == (
        "migrated",
        "pid 8",
        ["app.0002_b"],
    )
    (earlier,) = bar["earlier"]
    assert earlier["lane"] == "pid 7" and "lock wait" in earlier["error"]
    assert data["lanes"] == ["pid 7", "pid 8"] and data["counts"] == {"migrated": 1}


# -- a real browser ---------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1280,800", *args, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def png_colours(path: Path, limit: int = 50) -> set[bytes]:
    """Distinct pixel values of an 8-bit RGB/RGBA PNG (up to `limit`), decoded with zlib."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, ihdr = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            chunks += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", ihdr[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    size = 3 if colour == 2 else 4
    raw = zlib.decompress(chunks)
    stride = width * size + 1
    seen: set[bytes] = set()
    for row in range(0, height, 7):  # filter bytes aside, raw bytes of a sampled row differ by colour
        line = raw[row * stride + 1 : (row + 1) * stride]
        for x in range(0, len(line), size * 5):
            seen.add(line[x : x + size])
            if len(seen) >= limit:
                return seen
    return seen


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make system-deps)")


@needs_chromium
def test_page_in_headless_chromium(fleet: TenantSite, tmp_path: Path) -> None:
    _, page = migrate_and_draw(fleet, tmp_path)
    databases = len(page_data(page)["databases"])
    shot = tmp_path / "run.png"

    chromium(tmp_path, page, f"--screenshot={shot}")
    dom = chromium(tmp_path, page, "--dump-dom")

    assert shot.exists(), "no screenshot"
    print(f"screenshot: {shot}")
    assert len(png_colours(shot)) > 5, "the screenshot is blank"
    match = re.search(
        r'id="timeline"[^>]*data-rendered="(\d+)"|data-rendered="(\d+)"[^>]*id="timeline"', dom.stdout
    )
    assert match, dom.stdout[:2000]
    assert int(match.group(1) or match.group(2)) == databases == 5
    assert html.escape("</script><script>alert", quote=False) in dom.stdout  # the id shown as text
    assert "<script>alert" not in dom.stdout
    assert 'class="failure"' in dom.stdout and "tenant-3" in dom.stdout


@needs_chromium
def test_a_thousand_databases_render(tmp_path: Path) -> None:
    """A journal of 1,000 databases on 8 workers (written by the journal itself): every bar drawn."""
    journal = Journal(tmp_path / "journal", header_for([f"t{i}" for i in range(1000)]))
    report = MigrationReport()
    for i in range(1000):
        worker = f"pid {100 + i % 8}"
        journal.record(TenantStarted("django_orm", f"t{i}", "default", worker=worker))
        for step in range(20):
            journal.record(StepApplied("django_orm", f"t{i}", "default", f"app.{step:04}_step", 0.001))
        if i % 97 == 0:
            journal.record(TenantFailed("django_orm", f"t{i}", "default", "boom", "app.0003_step", 0.02))
        else:
            journal.record(
                TenantFinished("django_orm", f"t{i}", "default", Status.MIGRATED, 20, "app.0019", 0.02)
            )
    journal.close(report)
    page = tmp_path / "big.html"
    from tenant_router import write_run_page

    write_run_page(journal.path, page)

    assert page.stat().st_size < 3_000_000
    dom = chromium(tmp_path, page, "--dump-dom")
    assert 'data-rendered="1000"' in dom.stdout, dom.stdout[-2000:]
    assert dom.stdout.count('class="failure"') == 11


def test_celery_workers_get_their_own_lanes(tmp_path: Path) -> None:
    """A run on two real Celery workers: each database is drawn in the lane of the worker that ran it."""
    from support.celery_workers import Workers, redis_db, require_redis, unique_queue

    require_redis()
    example = clinic_copy(tmp_path)
    write_django_tenants(example, {f"tenant-{i}": {"NAME": f"var/tenant-{i}.sqlite3"} for i in (1, 2, 3)})
    workers = Workers(example, unique_queue(), redis_db())
    journal, page = tmp_path / "journal", tmp_path / "celery.html"
    try:
        workers.start("w1")
        workers.start("w2")
        celery = ["--executor", "celery", "--celery-app", "clinic.celery:app", "--queue", workers.queue]
        done = run(migrate_args(example, journal, *celery), example, env=workers.env())
        assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    finally:
        workers.stop_all()

    drawn = run([EXE, "runs", "show", "--settings", "clinic.settings", "--pythonpath", str(example),
                 "--journal", str(journal), "last", "--html", str(page)], example, env=workers.env())  # fmt: skip

    assert drawn.returncode == ExitCode.OK, drawn.stderr
    bars = by_tenant(page_data(page))
    for tenant in ("tenant-1", "tenant-2", "tenant-3"):
        assert bars[tenant]["outcome"] == "migrated"
        assert re.fullmatch(r"w[12]@\S+ pid \d+", bars[tenant]["lane"]), bars[tenant]
