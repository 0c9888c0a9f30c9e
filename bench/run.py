"""Benchmark `tenant-router migrate` against an in-process loop and a shell loop over N tenant databases.

.venv/bin/python bench/run.py --backend postgres --tenants 50 --state behind --rounds 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import celery_workers
import contenders
from celery_workers import Workers
from contenders import Command, Timing
from provision import BENCH, REPO, WORK, WORKLOAD, Fleet, Project, make_fleet, provision, teardown
from verify import expected_heads, problems, verify

RESULTS = BENCH / "results" / "results.jsonl"
KNOWN = ("tr", "trbase", "trdj", "inproc", "shell", "celery", "drift")


def parse_args(argv: Sequence[str] | None, project: Project, default_only: str) -> argparse.Namespace:
    """Command-line options (shared with bench/example_run.py)."""
    states = ("empty", "behind", "current") if project.behind_django else ("empty", "current")
    parser = argparse.ArgumentParser(description=(sys.modules["__main__"].__doc__ or "").strip())
    parser.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--tenants", type=int, required=True)
    parser.add_argument("--state", choices=states, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, help="passed verbatim to tenant-router migrate --jobs")
    parser.add_argument(
        "--only", default=default_only, help=f"comma-separated contenders of {', '.join(KNOWN)}"
    )
    parser.add_argument("--shell-sample", type=int, help="time the shell loop on K tenants and extrapolate")
    parser.add_argument(
        "--celery-workers", type=int, default=2, help="celery: how many `celery worker -c 1` to start"
    )
    parser.add_argument(
        "--provision-once",
        action="store_true",
        help="state current only: provision before the first run, not before every one (a run changes nothing)",
    )
    parser.add_argument(
        "--base-tree", help="trbase: run tenant-router from this checkout (another version, same venv)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the databases in place afterwards")
    parser.add_argument("--no-record", action="store_true", help="do not append to results.jsonl")
    args = parser.parse_args(argv)
    if args.provision_once and args.state != "current":
        parser.error("--provision-once is for --state current (every other run changes the fleet)")
    args.only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(args.only) - set(KNOWN)
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(sorted(unknown))}; choose from {', '.join(KNOWN)}")
    if "drift" in args.only and args.state != "current":
        parser.error("drift migrates nothing: time it with --state current (it must find no drift, exit 0)")
    return args


def command_for(name: str, fleet: Fleet, args: argparse.Namespace, workers: Workers | None) -> Command:
    """The timed command of contender `name`."""
    if name == "celery":
        assert workers is not None
        return contenders.celery(fleet, workers.queue, celery_workers.broker_url(), celery_workers.APP)
    if name in ("tr", "trdj"):
        return contenders.tenant_router(fleet, args.jobs, django_only=name == "trdj")
    if name == "trbase":
        if not args.base_tree:
            raise SystemExit("trbase needs --base-tree DIR (a checkout of the version to compare with)")
        return contenders.tenant_router_from(fleet, args.jobs, Path(args.base_tree).resolve())
    if name == "drift":
        return contenders.drift(fleet, args.jobs)
    if name == "inproc":
        return contenders.inproc(fleet)
    sample = args.shell_sample if args.shell_sample and args.shell_sample < len(fleet.tenants) else None
    return contenders.shell(fleet, sample)


def check_exit(command: Command, timing: Timing, jobs: int | None) -> None:
    """Stop the benchmark when a timed command failed, saying why."""
    if timing.exit_code == 0:
        return
    tail = timing.log.read_text(errors="replace")[-3000:]
    if command.contender in ("tr", "trdj") and timing.exit_code == 2 and jobs is not None:
        raise SystemExit(
            f"tenant-router rejected `--jobs {jobs}` (exit 2: usage error): this build has no --jobs "
            f"option yet. Run without --jobs.\n--- {timing.log} ---\n{tail}"
        )
    raise SystemExit(f"{command.contender} exited with {timing.exit_code}.\n--- {timing.log} ---\n{tail}")


def check_state(fleet: Fleet, expected: dict[str, list], state: str) -> None:
    """Sanity check of the provisioning, on the first and last tenant: behind unless "current"."""
    for tenant in (fleet.tenants[0], fleet.tenants[-1]):
        found = problems(fleet, tenant, expected, alembic=True)
        if (state == "current") == bool(found):
            raise SystemExit(
                f"Provisioning {state!r} went wrong for {tenant.id}: {found or 'already current'}"
            )
        if state == "behind" and len(found) != 2:
            raise SystemExit(f"Provisioning 'behind' went wrong for {tenant.id}: {found}")


def summarize(
    name: str, command: Command, timings: list[Timing], n: int, worker_cpu: list[float] | None = None
) -> dict:
    """Median wall time, ms per tenant (extrapolated for a sampled shell loop), peak RSS over rounds."""
    walls = [t.wall_s for t in timings]
    timed_tenants = len(command.tenants)
    median = statistics.median(walls)
    per_tenant = median / timed_tenants
    at_median = min(timings, key=lambda t: abs(t.wall_s - median))
    extra = {}
    if worker_cpu:  # celery: the workers are not the command's children; their CPU is part of "rest"
        extra["workers_cpu_s"] = round(worker_cpu[timings.index(at_median)], 2)
    return {
        **extra,
        "command": command.shown,
        "walls_s": [round(w, 3) for w in walls],
        # CPU of the round closest to the median: the command's processes, and everything else the
        # machine did meanwhile (mostly the database server).
        "cpu_s": round(at_median.cpu_s, 2),
        "other_cpu_s": round(at_median.machine_busy_s - at_median.cpu_s, 2),
        "median_s": round(median if timed_tenants == n else per_tenant * n, 3),
        "ms_per_tenant": round(per_tenant * 1000, 1),
        "peak_rss_mib": round(max(t.maxrss_kib for t in timings) / 1024, 1),
        "timed_tenants": timed_tenants,
        "extrapolated": timed_tenants != n,
    }


def machine() -> dict:
    """Where the numbers come from."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "tenant_router", "tenant_router_cli"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    return {
        "tenant_router_dirty": bool(dirty.stdout.strip()),  # others edit the tree being measured
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": commit.stdout.strip(),
    }


def table(record: dict) -> str:
    """Markdown rows for one invocation."""
    head = (
        "| project | backend | tenants | state | jobs | contender | median s | ms/tenant | peak RSS MiB "
        "| CPU s: own / rest | tr ÷ this |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    tr = record["results"].get("tr", {}).get("median_s")
    for name, r in record["results"].items():
        ratio = f"{tr / r['median_s']:.2f}" if tr and name != "tr" else "—"
        median = f"{r['median_s']:.2f}" + (
            f" (extrapolated from {r['timed_tenants']})" if r["extrapolated"] else ""
        )
        cpu = f"{r['cpu_s']:.1f} / {r['other_cpu_s']:.1f}" if "cpu_s" in r else "—"
        rows.append(
            f"| {record['project']} | {record['backend']} | {record['tenants']} | {record['state']} "
            f"| {record['jobs'] or '—'} | {name} | {median} | {r['ms_per_tenant']:.1f} | {r['peak_rss_mib']:.0f} "
            f"| {cpu} | {ratio} |"
        )
    return "\n".join(rows)


def run(project: Project, argv: Sequence[str] | None = None, default_only: str = "tr,inproc,shell") -> dict:
    """Provision, time every contender interleaved over the rounds, verify after each run, record."""
    args = parse_args(argv, project, default_only)
    fleet = make_fleet(project, args.backend, args.tenants)
    expected = expected_heads(fleet)
    timings: dict[str, list[Timing]] = {name: [] for name in args.only}
    commands: dict[str, Command] = {}
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    workers: Workers | None = None
    worker_cpu: list[float] = []
    celery_info: dict = {}
    try:
        if "celery" in args.only:
            env = {**fleet.env(), "CELERY_BROKER_URL": celery_workers.broker_url()}
            workers = Workers(args.celery_workers, env, WORK / "logs" / "celery")
            started = workers.start()
            celery_info = {
                "workers": args.celery_workers,
                "concurrency_each": 1,
                "queue": workers.queue,
                "broker": celery_workers.broker_url(),
                "startup_s": round(started, 3),
            }
            print(
                f"{args.celery_workers} celery worker(s) ready on {workers.queue} in {started:.2f}s",
                flush=True,
            )
        for rnd in range(1, args.rounds + 1):
            for name in args.only:
                if not args.provision_once or (rnd, name) == (1, args.only[0]):
                    provision(fleet, args.state)
                check_state(fleet, expected, args.state)
                command = commands[name] = command_for(name, fleet, args, workers)
                log = WORK / "logs" / f"{stamp}-{project.key}-{args.backend}-{name}-r{rnd}.log"
                before = workers.cpu_s() if workers and name == "celery" else 0.0
                timing = contenders.run_timed(command, log)
                if workers and name == "celery":
                    worker_cpu.append(workers.cpu_s() - before)
                check_exit(command, timing, args.jobs)
                checked = verify(
                    fleet, expected, command.tenants, alembic=command.alembic, what=f"{name} round {rnd}"
                )
                timings[name].append(timing)
                shown = f" (workers {worker_cpu[-1]:.1f}s)" if workers and name == "celery" else ""
                print(
                    f"round {rnd} {name:7} {timing.wall_s:8.2f}s  peak {timing.maxrss_kib / 1024:6.0f} MiB  "
                    f"cpu {timing.cpu_s:6.1f}s (rest {timing.machine_busy_s - timing.cpu_s:5.1f}s{shown})  "
                    f"verified {checked} tenant(s)",
                    flush=True,
                )
    finally:
        if workers is not None:
            celery_info["workers_peak_rss_mib"] = round(workers.peak_rss_kib() / 1024, 1)
            workers.stop()
        if not args.keep:
            teardown(fleet)
    record = {
        "at": dt.datetime.now().isoformat(timespec="seconds"),
        "project": project.key,
        "backend": args.backend,
        "tenants": args.tenants,
        "state": args.state,
        "rounds": args.rounds,
        "jobs": args.jobs,
        "shell_sample": args.shell_sample,
        "provision_once": args.provision_once,
        "machine": machine(),
        "results": {
            n: summarize(n, commands[n], timings[n], args.tenants, worker_cpu if n == "celery" else None)
            for n in args.only
        },
    }
    if celery_info:
        record["celery"] = celery_info
    if not args.no_record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    print()
    print(table(record))
    for name, r in record["results"].items():
        print(f"{name}: {r['command']}")
    if celery_info:
        print(
            f"celery: {celery_info['workers']} worker(s) -c 1, ready in {celery_info['startup_s']:.2f}s "
            f"(not timed), workers' peak RSS {celery_info['workers_peak_rss_mib']:.0f} MiB; "
            f"CPU of the workers (in 'rest'): {record['results']['celery'].get('workers_cpu_s')}s"
        )
        tr = record["results"].get("tr")
        if tr:
            over = record["results"]["celery"]["median_s"] / tr["median_s"] - 1
            print(f"celery over tr (median): {over:+.1%}")
    if any(r["extrapolated"] for r in record["results"].values()):
        print("shell: timed on a sample of tenants; median s is extrapolated linearly to all tenants.")
    return record


if __name__ == "__main__":
    run(WORKLOAD)
