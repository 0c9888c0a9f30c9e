"""`tenant-router drift` under signals, as a real process on PostgreSQL: Ctrl-C and SIGTERM while it builds
an expected schema end it at once with exit 130 and its scratch database dropped; after a kill -9 the scratch
database stays, and the next drift drops it and says so (one still in use by a running drift is never
touched). The scratch prefix is TENANT_ROUTER_DRIFT_SCRATCH_PREFIX."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.clinic import add_gate, arrivals, clinic_copy, pg_url, write_django_tenants
from support.processes import EXE, Streamed, run, wait_until
from support.servers import POSTGRES, require

from tenant_router_cli.exit_codes import ExitCode


@pytest.fixture
def gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A clinic copy (gate app) with one migrated PostgreSQL tenant, a drift prefix of its own, the gate
    closed; yields (example, prefix, gate)."""
    require(POSTGRES)
    example = clinic_copy(tmp_path)
    add_gate(example)
    prefix = f"trd{uuid.uuid4().hex[:8]}"
    (example / "drift_settings.py").write_text(
        f"from clinic.settings import *  # noqa: F403\nTENANT_ROUTER_DRIFT_SCRATCH_PREFIX = {prefix!r}\n"
    )
    name = f"trk_{uuid.uuid4().hex[:10]}"
    POSTGRES.create_database(name)
    write_django_tenants(example, {"t0": {"URL": pg_url(name)}})
    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("TR_GATE_DIR", str(gate))
    (gate / "open").touch()
    migrated = run(command(example, "migrate", "--no-journal"), cwd=example)
    assert migrated.returncode == ExitCode.OK, migrated.stderr
    (gate / "open").unlink()
    for mark in gate.glob("arrived-*"):
        mark.unlink()
    try:
        yield example, prefix, gate
    finally:
        for db in [name, *POSTGRES.named(prefix)]:
            POSTGRES.drop_database(db)


def command(example: Path, *args: str) -> list[str]:
    return [
        EXE, *args, "--settings", "drift_settings", "--pythonpath", str(example), "--orm", "django_orm",
    ]  # fmt: skip


def at_the_gate(example: Path, prefix: str, gate: Path) -> Streamed:
    drift = Streamed(command(example, "drift"), example)
    wait_until(
        lambda: any(prefix in a for a in arrivals(gate)), "the scratch database's migration at the gate"
    )
    return drift


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_drift_interrupted_exits_130_and_drops_its_scratch_database(gated: Any, sig: signal.Signals) -> None:
    example, prefix, gate = gated
    drift = at_the_gate(example, prefix, gate)
    try:
        assert len(POSTGRES.named(prefix)) == 1
        drift.proc.send_signal(sig)
        drift.proc.wait(timeout=60)
    finally:
        drift.kill()

    assert drift.proc.returncode == ExitCode.INTERRUPTED, drift.proc.returncode
    assert POSTGRES.named(prefix) == []
    assert "interrupted" in drift.stderr() and "Traceback" not in drift.stderr(), drift.stderr()


def test_a_scratch_database_a_killed_drift_left_is_dropped_by_the_next_one(gated: Any) -> None:
    example, prefix, gate = gated
    drift = at_the_gate(example, prefix, gate)
    try:
        (left,) = POSTGRES.named(prefix)
        drift.proc.send_signal(signal.SIGKILL)
        drift.proc.wait(timeout=60)
    finally:
        drift.kill()
    assert POSTGRES.named(prefix) == [left]  # killed: nothing could drop it

    for mark in gate.glob("arrived-*"):
        mark.unlink()
    running = at_the_gate(example, prefix, gate)  # a drift in progress holds its own scratch database
    try:
        wait_until(lambda: left not in POSTGRES.named(prefix), "the left scratch database dropped")
        (own,) = POSTGRES.named(prefix)
        (gate / "open").touch()
        running.proc.wait(timeout=120)
    finally:
        running.kill()

    assert running.proc.returncode == ExitCode.OK, running.stderr()
    assert f"dropped {left} on postgresql://" in running.stderr(), running.stderr()
    assert own != left and POSTGRES.named(prefix) == []
