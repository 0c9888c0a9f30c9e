"""Drift's scratch databases on both servers: one whose creator's session lock is gone is dropped by the
next sweep; one whose lock a live session holds (a drift still running) is left alone; a database not
named exactly as drift names them (`<prefix>_<12 hex digits>`: a tenant's `tr_drift_reports`) is never touched. (The whole story with real drift processes and signals: test_drift_signals.py.)"""

from __future__ import annotations

import uuid
from typing import Any

from tenant_router.drift.scratch import ScratchServer


def _server(server: Any, prefix: str) -> ScratchServer:
    return ScratchServer(server.admin(), "postgresql" if server.kind == "postgres" else "mysql", prefix)


def test_a_sweep_drops_what_no_live_drift_holds_and_nothing_else(server: Any) -> None:
    prefix = f"trs{uuid.uuid4().hex[:8]}"
    left, held = f"{prefix}_{uuid.uuid4().hex[:12]}", f"{prefix}_{uuid.uuid4().hex[:12]}"
    others = [
        f"{prefix}x_{uuid.uuid4().hex[:12]}",
        f"{prefix}_reports",
        f"{prefix}_{uuid.uuid4().hex[:12].upper()}",
    ]
    for name in (left, held, *others):
        server.create_database(name)
    running, sweeper = _server(server, prefix), _server(server, prefix)
    try:
        assert running.try_hold(held)  # a drift still running holds its scratch database
        dropped: list[str] = []

        def drop(name: str) -> None:
            server.drop_database(name)
            dropped.append(name)

        assert sweeper.sweep(drop) == [left]
        assert dropped == [left]
        assert sorted(server.named(prefix)) == sorted([held, *others])  # a tenant's own names: never
        running.release(held)
        assert sweeper.sweep(drop) == [held]  # its drift ended without dropping it (killed): now it goes
    finally:
        for conn in (running.conn, sweeper.conn):
            conn.close()
        for name in (left, held, *others):
            server.drop_database(name)
