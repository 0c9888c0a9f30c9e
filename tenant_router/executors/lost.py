"""What a run does with the databases a lost worker left mid-way (killed by an abort, a second Ctrl-C or
SIGTERM, or by anything else): end the server sessions that worker opened, so no statement runs on and
no run lock stays held; read where each database was left; settle it, saying so."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from ..orm_backends.assistants import Assistants
from ..preflight import Inspection
from ..record.events import Status, TenantFailed
from ..record.keys import DbKey
from ..record.report import MigrationReport
from ..safety.sessions import Session, end_sessions

ABORTED = "aborted by a second interrupt"


def settle_lost(
    report: MigrationReport,
    assistants: Assistants,
    units: Iterable[DbKey],
    finished: Collection[DbKey],
    sessions: Mapping[DbKey, Collection[Session]],
    error: str = ABORTED,
    status: Status = Status.INTERRUPTED,
) -> None:
    """Each database of `units` with no outcome yet ends `status` with `error` and where a fresh read
    found it (the sessions its worker opened ended first: their transaction is rolled back, their
    locks freed)."""
    for key in units:
        if key in finished:
            continue
        row = report.results.get(key)
        found: Inspection | BaseException | None = None
        if row is not None and key.alias is not None:  # it had started: what does it hold now?
            found = _end_and_read(assistants, key, sessions.get(key, ()), row.running_step)
        applied = row.applied if row is not None else []
        report.emit(
            TenantFailed(
                *key,
                error,
                row.running_step if row is not None else None,
                0.0,
                None,
                status,
                found.current if isinstance(found, Inspection) else None,
                tuple(s for s in applied if s in found.pending) if isinstance(found, Inspection) else (),
                isinstance(found, BaseException),
            )
        )


def _end_and_read(
    assistants: Assistants, key: DbKey, sessions: Collection[Session], step: str | None
) -> Inspection | BaseException | None:
    """End the database's sessions on its server, then read where it is (None: this ORM cannot read)."""
    assert key.alias is not None
    asst = assistants.get(key.orm)
    db_config = assistants.find_db_config(key)
    if db_config is None:
        return None
    try:
        read = asst.bookkeeping_read(key.tenant or "", key.alias, db_config)
        if read is not None and sessions:
            end_sessions(read.connect, list(sessions))
        return asst.read_position(key.tenant, key.alias, db_config, step)
    except Exception as exc:  # a broken assistant: what it holds is unknown
        return exc
