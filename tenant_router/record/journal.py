"""The run journal: one JSON Lines file per run recording every database's outcome as it happens.

Line 1 is the run's header (id, start, settings, selection); then one line per settled database; the
last line, written when the run ends (even interrupted), holds the counts. A run that was killed has
no last line, and the databases without a line never finished.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ..errors import ConfigurationError, UsageError
from .events import FINAL_EVENTS, MigrationEvent, Status, TenantFailed, TenantFinished, TenantRequeued
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
    }
)


def new_run_id() -> str:
    """Sortable and unique: 20261124T073512Z-3f9a."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


class Journal:
    """An on_event tap appending each settled database to runs/<run id>.jsonl."""

    def __init__(self, directory: Path, header: dict[str, Any]) -> None:
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
        self._write({"journal": 1, "run": self.run_id, "started": _now(), **header})

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()

    def record(self, event: MigrationEvent) -> None:
        """Append the outcome of a settled database, or that a busy one waits for a retry."""
        if isinstance(event, TenantRequeued):  # busy until a later line says otherwise
            self._write(
                {"orm": event.orm, "tenant": event.tenant, "alias": event.alias, "status": str(Status.BUSY),
                 "requeued": f"retry {event.attempt}/{event.retries} in {event.delay:g}s", "error": event.error}
            )  # fmt: skip
            return
        if not isinstance(event, FINAL_EVENTS):
            return
        line: dict[str, Any] = {"orm": event.orm, "tenant": event.tenant, "alias": event.alias}
        line["status"] = str(event.status)
        if isinstance(event, TenantFailed):
            line.update(error=event.error, step=event.step, current=event.current)
        elif isinstance(event, TenantFinished):
            line.update(applied=event.applied, current=event.current)
        self._write(line)

    def close(self, report: MigrationReport) -> None:
        """The closing line: counts, whether it was interrupted or stopped early."""
        self._write(
            {
                "finished": _now(),
                "seconds": round(report.seconds, 3),
                "counts": report.counts(),
                "interrupted": report.interrupted,
                "stopped": report.stop_reason,
            }
        )
        self._file.close()


@dataclass
class RunRecord:
    """One journal file, read back."""

    run_id: str
    path: Path
    header: dict[str, Any]
    outcomes: dict[tuple[str, str | None, str | None], dict[str, Any]] = field(default_factory=dict)
    footer: dict[str, Any] | None = None

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

    def summary(self) -> dict[str, Any]:
        """What `tenant-router runs` shows."""
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
        return {
            "run": self.run_id,
            "started": self.header.get("started"),
            "finished": self.footer.get("finished") if self.footer else None,
            "seconds": self.footer.get("seconds") if self.footer else None,
            "interrupted": bool(self.footer and self.footer.get("interrupted")) or not self.finished,
            "counts": counts,
            "to_redo": len(self.tenants_to_redo()),
            "argv": self.header.get("argv"),
        }


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
        else:
            run.outcomes[(record["orm"], record["tenant"], record["alias"])] = record
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


@dataclass(frozen=True)
class Unfinished:
    """What `--only-failed` redoes: the databases whose latest outcome in the journal is not an end,
    and which runs said so."""

    databases: frozenset[DbKey] | None  # None: whole tenants (a journal that lists no databases)
    tenants: tuple[str, ...]
    runs: tuple[str, ...]  # the runs whose outcome of a database to redo is its latest, newest first
    read: int  # how many runs were read
    run_id: str | None = None  # the one run asked for (`--only-failed RUN_ID`); None: the latest outcomes

    def describe(self) -> str:
        """One line saying which run(s) were read and what is redone."""
        count = (
            f"{len(self.tenants)} tenant(s)"
            if self.databases is None
            else f"{len(self.databases)} database(s)"
        )
        if self.run_id is not None:
            if not self.tenants:
                return f"--only-failed: nothing to redo: run {self.run_id} brought every database to an end."
            return f"--only-failed: {count} to redo from run {self.run_id}."
        if not self.tenants:
            return (
                f"--only-failed: nothing to redo: the latest outcome of every database in the journal's "
                f"{self.read} run(s) is an end."
            )
        return (
            f"--only-failed: {count} to redo, as last recorded by run(s) {', '.join(self.runs)} "
            f"({self.read} run(s) read)."
        )


def unfinished(directory: Path, run_id: str | None = None) -> Unfinished:
    """The databases `run_id` did not bring to an end; without one, every database whose latest outcome
    across the journal's runs is not an end (a later run of other tenants hides no earlier failure, and
    a later run that finished a database settles it)."""
    if run_id is not None:
        run = find_run(directory, run_id)
        redo = run.databases_to_redo()
        tenants = tuple(run.tenants_to_redo())
        return Unfinished(None if redo is None else frozenset(redo), tenants, (run.run_id,), 1, run.run_id)
    found = list(runs(directory))
    if not found or found[0].header.get("databases") is None:  # none, or a journal listing no databases
        newest = find_run(directory, None)
        return Unfinished(None, tuple(newest.tenants_to_redo()), (newest.run_id,), 1)
    decided: set[DbKey] = set()
    redo_by: dict[DbKey, str] = {}
    for run in found:  # newest first: the first run that planned a database has its latest outcome
        if run.header.get("databases") is None:
            continue
        to_redo = set(run.databases_to_redo() or ())
        for key in (DbKey(*k) for k in run.header["databases"]):
            if key not in decided:
                decided.add(key)
                if key in to_redo:
                    redo_by[key] = run.run_id
    tenants = tuple(dict.fromkeys(key.tenant for key in redo_by if key.tenant is not None))
    return Unfinished(frozenset(redo_by), tenants, tuple(dict.fromkeys(redo_by.values())), len(found))


def header_for(
    tenants: Sequence[str], databases: Sequence[tuple[str, str | None, str | None]] = (), **extra: Any
) -> dict[str, Any]:
    """The header line: the tenants and tenant databases this run set out to migrate, how it was called."""
    return {
        "tenants": list(tenants),
        "databases": [list(key) for key in databases],
        "pid": os.getpid(),
        "clock": time.time(),
        **extra,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
