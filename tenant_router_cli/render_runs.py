"""The run history as plain lines: one row per run (`runs`), one run in full (`runs show`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tenant_router import STATUS_WORDS, Status, database_label, printable

KILLED = "ended without a footer (killed?)"


def duration(seconds: float | None) -> str:
    """1.5s, 2m05s, 1h02m."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def options_text(run: dict[str, Any]) -> str:
    """`--tenant acme-* --orm shop; processes, jobs 4`; for a journal without options, its command line."""
    options = run.get("options")
    if not options:
        return " ".join(run.get("argv") or ["?"])
    selection, executor, policy = options["selection"], options["executor"], options["policy"]
    parts = [f"--orm {o}" for o in selection["orms"]] + [f"--tenant {t}" for t in selection["tenants"]]
    parts += [f"--exclude {t}" for t in selection["exclude"]]
    parts += [f"--shard {selection['shard']}"] if selection["shard"] else []
    parts += ["--only-failed"] if selection["only_failed"] else []
    parts += [f"--target {' '.join(policy['target'])}"] if policy["target"] else []
    chosen = " ".join(parts) or "all tenants"
    if executor["name"] == "processes":
        how = f"processes, jobs {executor['jobs']}"
    else:
        how = executor["name"] + (f", queue {executor['queue']}" if executor["queue"] else "")
    rules = [f"--canary {policy['canary']}"] if policy["canary"] else []
    rules += ["--fail-fast"] if policy["fail_fast"] else []
    rules += [f"--max-failures {policy['max_failures']}"] if policy["max_failures"] else []
    rules += ["--" + flag.replace("_", "-") for flag in ("refuse_drift", "create_missing") if policy[flag]]
    return "; ".join([chosen, how, *([" ".join(rules)] if rules else [])])


def counts_text(counts: dict[str, int]) -> str:
    """`2 migrated, 1 failed` (statuses in the order of Status)."""
    order = [str(s) for s in Status]
    known = sorted(counts, key=lambda s: order.index(s) if s in order else len(order))
    return ", ".join(f"{counts[s]} {_word(s)}" for s in known) or "nothing recorded"


def ending(run: dict[str, Any]) -> str:
    """How a run ended: `1.5s, exit 1`, `interrupted after 3.0s, exit 130`, or that it has no footer."""
    if not run["finished"]:
        return KILLED + (
            f" or still running (pid {run['pid']} is alive on this host)" if run["alive"] else ""
        )
    code = "?" if run["exit_code"] is None else run["exit_code"]
    how = f"interrupted after {duration(run['seconds'])}" if run["interrupted"] else duration(run["seconds"])
    return f"{how}, exit {code}"


def run_row(run: dict[str, Any]) -> str:
    """One line of `runs`."""
    redo = f"; --only-failed would redo {run['to_redo']} tenant(s)" if run["to_redo"] else ""
    recorded = " recorded" if not run["finished"] and run["counts"] else ""
    return printable(
        f"{run['run']}  {run['started']}  on {run['host'] or '?'}  {ending(run)}  "
        f"{counts_text(run['counts'])}{recorded}  ({options_text(run)}){redo}"
    )


def run_lines(run: dict[str, Any], *, steps: bool = False) -> Iterator[str]:
    """`runs show`: the run, then its databases in the order they settled, then those without an outcome."""
    who = f" by {run['user']}" if run.get("user") else ""
    pid = f" (pid {run['pid']})" if run.get("pid") else ""
    yield printable(f"Run {run['run']}")
    yield printable(f"  started  {run['started']} on {run['host'] or '?'}{who}{pid}")
    yield printable(f"  command  tenant-router {' '.join(run['argv'] or ['?'])}")
    yield printable(f"  options  {options_text(run)}")
    if run["finished"]:
        stopped = f" (stopped: {run['stopped']})" if run["stopped"] and not run["interrupted"] else ""
        yield printable(f"  ended    {run['finished']}: {ending(run)}{stopped}")
        yield printable(f"  counts   {counts_text(run['counts'])}")
    else:
        known = len(run["databases"])
        yield f"  {ending(run)}: the journal holds the outcome of {known} database(s), no duration, no exit code"
        yield printable(f"  counts   {counts_text(run['counts'])}{' recorded' if run['counts'] else ''}")
    if run.get("workers_lost"):
        yield f"  workers lost: {run['workers_lost']}"
    yield printable(f"  journal  {run['journal']}")
    if run["databases"]:
        yield "Databases (in the order they settled):"
    for db in run["databases"]:
        yield printable(f"  {db['orm']} {database_label(db['tenant'], db['alias'])}: {_outcome(db)}")
        for step in (db["steps"] or []) if steps else []:
            yield printable(f"      {step['step']}  {step['seconds']:.2f}s")
    timed = sorted((db for db in run["databases"] if db["seconds"]), key=lambda db: -db["seconds"])
    if len(timed) > 1:
        slowest = ", ".join(
            f"{db['orm']} {database_label(db['tenant'], db['alias'])} {duration(db['seconds'])}"
            for db in timed[:5]
        )
        yield printable(f"Slowest: {slowest}")
    if run["unrecorded"]:
        yield "No outcome recorded (running or not started when the run ended; `migrate --only-failed` redoes them):"
        for db in run["unrecorded"]:
            yield printable(f"  {db['orm'] or '(any ORM)'} {database_label(db['tenant'], db['alias'])}")


def _outcome(db: dict[str, Any]) -> str:
    took = "" if db["seconds"] is None else f" ({duration(db['seconds'])})"
    requeued = f", requeued {db['requeued']}x" if db["requeued"] else ""
    if db["status"] != "busy" and (db["error"] is not None or db["status"] == "failed"):
        at = f" at {db['failed_step']}" if db["failed_step"] else ""
        return f"{_word(db['status']).upper()}{at}: {db['error']}{took}{requeued}"
    if db["status"] == "busy":
        return f"BUSY: {db['error']}{took}{requeued}"
    applied = f", {db['applied']} applied" if db["applied"] else ""
    at = f" at {db['current']}" if db["current"] and db["applied"] else ""
    slowest = ""
    if db["steps"] and db["status"] != "up_to_date":
        top = max(db["steps"], key=lambda s: s["seconds"])
        slowest = f"; slowest {top['step']} ({top['seconds']:.2f}s)"
    return f"{_word(db['status'])}{applied}{at}{took}{requeued}{slowest}"


def _word(status: str) -> str:
    try:
        return STATUS_WORDS[Status(status)]
    except ValueError:
        return status.replace("_", " ")
