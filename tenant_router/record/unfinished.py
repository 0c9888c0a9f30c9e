"""What `--only-failed` redoes: each database's latest outcome across the journal's runs (or one run's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .journal import find_run, runs
from .keys import DbKey


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
