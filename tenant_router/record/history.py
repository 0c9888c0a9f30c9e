"""The run history: past runs read back from the journal folder, as `tenant-router runs` shows them.

Only what a journal holds is said: a run without a footer (killed, or still running) has no duration, no
exit code and no counts beyond the outcomes it wrote; its databases without a line have no outcome.
Journals written before a field existed read back with that field None.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .journal import RunRecord, read_run

LAST = "last"


def newest_runs(directory: Path, limit: int | None = None) -> Iterator[RunRecord]:
    """The runs in the folder, newest first, as `runs()` orders them, reading only the first line of
    the others: a journal of 20,000 databases is read whole only when it is shown."""
    heads: list[tuple[tuple[str, float, str], Path]] = []
    for path in directory.glob("*.jsonl") if directory.is_dir() else ():
        try:
            with path.open(encoding="utf-8") as file:
                header = json.loads(file.readline())
            run_id = header["run"]
            heads.append(((run_id[:16], float(header.get("clock") or 0), run_id), path))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a journal (runs() skips it too)
    heads.sort(key=lambda head: head[0], reverse=True)
    shown = 0
    for _, path in heads:
        if limit is not None and shown >= limit:
            return
        try:
            run = read_run(path)
        except (UsageError, OSError, KeyError):
            continue
        shown += 1
        yield run


def find_one_run(directory: Path, ref: str) -> RunRecord:
    """The run `ref` names: its id, a prefix of exactly one run's id, or `last` (the newest)."""
    if ref == LAST:
        for run in newest_runs(directory, 1):
            return run
        raise UsageError(f"The journal in {str(directory)!r} has no runs.", hint="Run `migrate` first.")
    ids = sorted(path.stem for path in directory.glob("*.jsonl")) if directory.is_dir() else []
    matches = [ref] if ref in ids else [run_id for run_id in ids if run_id.startswith(ref)]
    if len(matches) == 1:
        try:
            return read_run(directory / f"{matches[0]}.jsonl")
        except (OSError, KeyError) as exc:
            raise UsageError(f"The journal of run {matches[0]!r} cannot be read: {exc}.") from None
    if not matches:
        raise UsageError(
            f"The journal in {str(directory)!r} has no run {ref!r}.", hint="`tenant-router runs` lists them."
        )
    names = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise UsageError(f"Run {ref!r} matches {len(matches)} runs ({names}): give more of its id.")


def run_summary(run: RunRecord) -> dict[str, Any]:
    """One row of `runs`: when, where, how, what came of it, how long, the exit code."""
    header, footer = run.header, run.footer or {}
    counts: dict[str, int] = {}
    for outcome in run.outcomes.values():
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    return {
        "run": run.run_id,
        "journal": str(run.path),
        "started": header.get("started"),
        "host": header.get("host"),
        "user": header.get("user"),
        "pid": header.get("pid"),
        "argv": header.get("argv"),
        "options": header.get("options"),
        "finished": footer.get("finished"),  # when it ended; None: no footer (killed, or still running)
        "alive": None if run.finished else writer_alive(header),  # its process still runs on this host
        "seconds": footer.get("seconds"),
        "exit_code": footer.get("exit_code"),
        "interrupted": bool(footer.get("interrupted")),
        "stopped": footer.get("stopped"),
        "workers_lost": footer.get("workers_lost"),
        "counts": counts,  # of the outcomes the journal holds
        "to_redo": len(run.tenants_to_redo()),
    }


def run_details(run: RunRecord) -> dict[str, Any]:
    """`runs show`: the summary, every recorded database (outcome, steps, timings, error) in the order
    they settled, and the planned databases the journal holds no outcome for."""
    databases = [_database(key, outcome, run.requeues.get(key, 0)) for key, outcome in run.outcomes.items()]
    planned = run.header.get("databases")
    unrecorded: list[dict[str, Any]] = []
    if planned is not None:
        unrecorded = [
            {"orm": orm, "tenant": tenant, "alias": alias}
            for orm, tenant, alias in planned
            if (orm, tenant, alias) not in run.outcomes
        ]
    else:  # an older journal listed tenants only
        settled = {key[1] for key in run.outcomes}
        tenants = [t for t in run.header.get("tenants", []) if t not in settled]
        unrecorded = [{"orm": None, "tenant": t, "alias": None} for t in tenants]
    return {**run_summary(run), "databases": databases, "unrecorded": unrecorded}


def writer_alive(header: dict[str, Any]) -> bool | None:
    """Whether the process that wrote a footerless journal still runs: None when it ran on another
    host or the journal does not say (a pid may have been reused: a hint, not a fact)."""
    pid, host = header.get("pid"), header.get("host")
    if not isinstance(pid, int) or pid <= 0 or host is None or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    try:  # a zombie runs no more code
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _database(key: tuple[str, str | None, str | None], line: dict[str, Any], requeues: int) -> dict[str, Any]:
    orm, tenant, alias = key
    steps = line.get("steps")
    return {
        "orm": orm,
        "tenant": tenant,
        "alias": alias,
        "status": line["status"],
        "applied": line.get("applied"),
        "current": line.get("current"),
        "seconds": line.get("seconds"),
        "began": line.get("began"),  # seconds after the run began; None: not recorded
        "steps": None if steps is None else [{"step": s[0], "seconds": s[-1]} for s in steps],
        "error": line.get("error"),
        "failed_step": line.get("step"),
        "requeued": requeues,
    }
