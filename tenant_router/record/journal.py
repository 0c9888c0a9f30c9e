"""The run journal: one JSON Lines file per run recording every database's outcome as it happens.

Line 1 is the run's header (id, start, host, user, how it was called, the options, what it set out to
migrate); then one line per settled database (its outcome, time and steps); the footer, written when
the run ends (even interrupted), holds the counts, and the exit code when the command that ran it waits
to give it (`exit_code_follows`). A killed run has no footer; its databases without an outcome line never
finished (they were running, or never started: the journal cannot tell). Fields were only ever added:
an older journal reads the same. {"event": "started", ...} lines (a database began: when, on which
worker) are no outcome. Every line after the header has "t", seconds since the run began on the run's
clock; an outcome also its duration ("seconds") and the steps of its last attempt ([step, t at its end,
seconds]); a `requeued` line the steps of the attempt before.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import secrets
import socket
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ..errors import ConfigurationError, UsageError
from .events import (
    FINAL_EVENTS,
    MigrationEvent,
    OutputLogged,
    RunStarted,
    Status,
    StepApplied,
    TenantFailed,
    TenantFinished,
    TenantRequeued,
    TenantSkipped,
    TenantStarted,
    WorkerLost,
)
from .keys import DbKey
from .report import MigrationReport

REDO = frozenset(
    {
        Status.FAILED,
        Status.NOT_STARTED,
        Status.LOCKED,
        Status.INTERRUPTED,
        Status.BUSY,
        Status.DRIFTED,
        Status.MISSING,
        Status.UNKNOWN,  # the pre-flight of the next run reads where it stands
    }
)


def new_run_id() -> str:
    """Sortable and unique: 20261124T073512Z-3f9a."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


class Journal:
    """An on_event tap appending each settled database to runs/<run id>.jsonl."""

    def __init__(self, directory: Path, header: dict[str, Any], *, exit_code_follows: bool = False) -> None:
        self.directory = directory
        self.run_id = new_run_id()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.path = directory / f"{self.run_id}.jsonl"
            self._file: TextIO = self.path.open("x", encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"Journal folder {str(directory)!r} is not writable: {exc.strerror or exc}.",
                hint="Set TENANT_ROUTER_JOURNAL_DIR, pass --journal DIR, or --no-journal.",
                check_id="E010",
            ) from exc
        self._began = time.monotonic()
        self._began_at: dict[DbKey, float] = {}  # when each running database first began (kept over requeues)
        self.workers_lost = 0
        self.footer: dict[str, Any] | None = None
        self.exit_code_follows = exit_code_follows  # the footer waits for note_exit()
        self._pending: weakref.finalize[Any, Any] | None = None
        self._steps: dict[DbKey, list[list[Any]]] = {}  # the steps of each running database, until it settles
        self._write({"journal": 1, "run": self.run_id, "started": _now(), **header})

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()

    def record(self, event: MigrationEvent) -> None:
        """Append the outcome of a settled database, that a busy one waits for a retry, that one began, or
        output of the code the run carried out (a `logged` line)."""
        if isinstance(event, RunStarted | WorkerLost):
            self.workers_lost += isinstance(event, WorkerLost)
            return
        if isinstance(event, OutputLogged):
            self._write(
                {"orm": event.orm, "tenant": event.tenant, "alias": event.alias, "logged": True,
                 "level": event.level, "logger": event.logger, "message": event.message}
            )  # fmt: skip
            return
        key = DbKey(event.orm, event.tenant, event.alias)
        if isinstance(event, TenantStarted):
            self._steps[key] = []
            self._began_at.setdefault(key, self._clock())
            self._write({"event": "started", "orm": event.orm, "tenant": event.tenant, "alias": event.alias,
                         "t": self._clock(), "worker": event.worker})  # fmt: skip
        elif isinstance(event, StepApplied):
            self._steps.setdefault(key, []).append([event.step, self._clock(), round(event.seconds, 3)])
        if isinstance(event, TenantRequeued):  # busy until a later line says otherwise
            self._write(
                {"orm": event.orm, "tenant": event.tenant, "alias": event.alias, "status": str(Status.BUSY),
                 "requeued": f"retry {event.attempt}/{event.retries} in {event.delay:g}s", "error": event.error,
                 "t": self._clock(), "steps": self._steps.pop(key, [])}
            )  # fmt: skip
            return
        if not isinstance(event, FINAL_EVENTS):
            return
        line: dict[str, Any] = {"orm": event.orm, "tenant": event.tenant, "alias": event.alias}
        line["status"] = str(event.status)
        line.update(t=self._clock(), seconds=round(getattr(event, "seconds", 0.0), 3))
        line["steps"] = self._steps.pop(key, [])
        began = self._began_at.pop(key, None)
        if not isinstance(event, TenantSkipped):
            line["began"] = began
        if isinstance(event, TenantFailed):
            line.update(error=event.error, step=event.step, current=event.current)
            line.update({"rolled_back": list(event.undone)} if event.undone else {})
            line.update({"current_unknown": True} if event.unknown else {})
        elif isinstance(event, TenantFinished):
            line.update(applied=event.applied, current=event.current)
        self._write(line)

    def _clock(self) -> float:
        return round(time.monotonic() - self._began, 3)

    def close(self, report: MigrationReport) -> None:
        """The closing line: counts, whether it was interrupted or stopped early."""
        self.footer = {
            "finished": _now(),
            "t": self._clock(),
            "seconds": round(report.seconds, 3),
            "counts": report.counts(),
            "interrupted": report.interrupted,
            "stopped": report.stop_reason,
            "workers_lost": self.workers_lost,
        }
        if not self.exit_code_follows:
            self._write(self.footer)
        self._file.close()
        if self.exit_code_follows:  # written by note_exit(); without its code if that never comes
            self._pending = weakref.finalize(self, _append, self.path, self.footer)

    def note_exit(self, code: int) -> None:
        """Write the footer held for the exit code of the command that ran the run, with that code."""
        if self._pending is not None and self._pending.detach() is not None:
            assert self.footer is not None
            _append(self.path, {**self.footer, "exit_code": int(code)})


@dataclass
class RunRecord:
    """One journal file, read back."""

    run_id: str
    path: Path
    header: dict[str, Any]
    outcomes: dict[tuple[str, str | None, str | None], dict[str, Any]] = field(default_factory=dict)
    footer: dict[str, Any] | None = None
    requeues: dict[tuple[str, str | None, str | None], int] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """False when the run died before writing its closing line."""
        return self.footer is not None

    def databases_to_redo(self) -> list[DbKey] | None:
        """(orm, tenant, alias) of every tenant database that failed, was locked or interrupted, or
        never finished; one that finished (migrated, up to date, skipped) is not redone. None for a
        journal that does not list its databases (then whole tenants are redone: tenants_to_redo)."""
        planned = self.header.get("databases")
        if planned is None:
            return None
        keys = [DbKey(orm, tenant, alias) for orm, tenant, alias in planned]
        return [k for k in keys if k not in self.outcomes or Status(self.outcomes[k]["status"]) in REDO]

    def tenants_to_redo(self) -> list[str]:
        """Tenants with a database to redo (see databases_to_redo), in the run's order."""
        if self.header.get("databases") is None:
            return self._tenants_to_redo_whole()
        redo = {tenant for _, tenant, _ in self.databases_to_redo() or ()}
        return [t for t in self.header.get("tenants", []) if t in redo]

    def _tenants_to_redo_whole(self) -> list[str]:
        redo = {o["tenant"] for o in self.outcomes.values() if o["tenant"] and Status(o["status"]) in REDO}
        settled = {o["tenant"] for o in self.outcomes.values() if o["tenant"]}
        unfinished = [t for t in self.header.get("tenants", []) if t not in settled]
        return [t for t in self.header.get("tenants", []) if t in redo or t in unfinished]


def read_run(path: Path) -> RunRecord:
    """Parse one journal file (a torn last line from a killed run is ignored)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not records or "journal" not in records[0]:
        raise UsageError(f"{str(path)!r} is not a tenant-router journal.")
    run = RunRecord(records[0]["run"], path, records[0])
    for record in records[1:]:
        if "finished" in record:
            run.footer = record
        elif not record.get("logged") and "event" not in record:  # output, a start: no outcome
            key = (record["orm"], record["tenant"], record["alias"])
            if "requeued" in record:  # busy until a later line says otherwise: not an outcome yet
                run.requeues[key] = run.requeues.get(key, 0) + 1
            else:
                run.outcomes.pop(key, None)  # in the order they settled
                run.outcomes[key] = record
    return run


def runs(directory: Path) -> Iterator[RunRecord]:
    """Every run in the folder, newest first (run ids share their second: the header's clock decides)."""
    if not directory.is_dir():
        return
    found = []
    for path in directory.glob("*.jsonl"):
        try:
            found.append(read_run(path))
        except (UsageError, OSError, KeyError):
            continue
    found.sort(key=lambda run: (run.run_id[:16], run.header.get("clock") or 0, run.run_id), reverse=True)
    yield from found


def find_run(directory: Path, run_id: str | None) -> RunRecord:
    """The given run (a unique prefix will do), or the newest."""
    for run in runs(directory):
        if run_id is None or run.run_id.startswith(run_id):
            return run
    which = f"run {run_id!r}" if run_id else "any run"
    raise UsageError(
        f"The journal in {str(directory)!r} has no record of {which}.",
        hint="`tenant-router runs` lists them.",
    )


def header_for(
    tenants: Sequence[str], databases: Sequence[tuple[str, str | None, str | None]] = (), **extra: Any
) -> dict[str, Any]:
    """The header line: the tenants and tenant databases this run set out to migrate, how it was called."""
    return {
        "tenants": list(tenants),
        "databases": [list(key) for key in databases],
        "pid": os.getpid(),
        "clock": time.time(),
        "host": socket.gethostname(),
        "user": _user(),
        **extra,
    }


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name, no passwd entry (a container's uid)
        return None


def _append(path: Path, record: dict[str, Any]) -> None:
    with contextlib.suppress(OSError), path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(record, default=str) + "\n")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
