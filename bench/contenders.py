"""The contenders: tenant-router and the two baselines, each one timed command over a fleet."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from provision import BENCH, PYTHON, REPO, Fleet, Tenant

TENANT_ROUTER = REPO / ".venv" / "bin" / "tenant-router"
ALEMBIC = REPO / ".venv" / "bin" / "alembic"


@dataclass(frozen=True)
class Command:
    """One timed command: what it runs, and which tenants (and ORMs) it must leave at their latest."""

    contender: str
    argv: list[str]
    env: dict[str, str]
    tenants: list[Tenant]
    alembic: bool  # does it migrate the SQLAlchemy side too (so verify alembic_version)?
    shown: str  # the command as a person would type it


@dataclass(frozen=True)
class Timing:
    """What timed.py measured for one command."""

    wall_s: float
    maxrss_kib: int
    exit_code: int
    log: Path
    cpu_s: float = float("nan")  # user+system of the command's process tree
    machine_busy_s: float = float("nan")  # the whole machine over the same time (database server included)


def tenant_router(fleet: Fleet, jobs: int | None, *, django_only: bool = False) -> Command:
    """`tenant-router migrate` over the whole fleet (`--orm django_orm` when django_only)."""
    args = ["migrate", "--settings", fleet.project.settings]
    for path in fleet.project.pythonpath:
        args += ["--pythonpath", str(path.relative_to(REPO))]
    args += ["--no-progress", "-q"]
    if django_only:
        args += ["--orm", "django_orm"]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    return Command(
        "trdj" if django_only else "tr",
        [str(TENANT_ROUTER), *args],
        fleet.env(),
        fleet.tenants,
        not django_only,
        "tenant-router " + shlex.join(args),
    )


def tenant_router_from(fleet: Fleet, jobs: int | None, tree: Path) -> Command:
    """`tenant-router migrate` as `tr` runs it, but the code of another checkout (`--base-tree DIR`):
    the same machine, fleet and rounds compare two versions (the venv's packages are shared)."""
    base = tenant_router(fleet, jobs)
    paths = [*(str(p) for p in fleet.project.pythonpath), str(tree)]
    env = {**base.env, "PYTHONPATH": os.pathsep.join(paths)}
    argv = [str(PYTHON), "-P", "-m", "tenant_router_cli", *base.argv[1:]]  # -P: not the cwd's copy
    return Command("trbase", argv, env, base.tenants, True, f"PYTHONPATH={tree} {base.shown}")


def celery(fleet: Fleet, queue: str, broker: str, app: str) -> Command:
    """`tenant-router migrate --executor celery`: the bench's Celery workers (started by run.py) migrate."""
    base = tenant_router(fleet, None)
    extra = ["--executor", "celery", "--celery-app", app, "--queue", queue]
    env = {**base.env, "CELERY_BROKER_URL": broker}
    return Command(
        "celery", [*base.argv, *extra], env, base.tenants, True, f"{base.shown} {shlex.join(extra)}"
    )


def drift(fleet: Fleet, jobs: int | None) -> Command:
    """`tenant-router drift` over the whole fleet: every database's real schema against its migrations."""
    args = ["drift", "--settings", fleet.project.settings]
    for path in fleet.project.pythonpath:
        args += ["--pythonpath", str(path.relative_to(REPO))]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    return Command(
        "drift",
        [str(TENANT_ROUTER), *args],
        fleet.env(),
        fleet.tenants,
        True,
        "tenant-router " + shlex.join(args),
    )


def inproc(fleet: Fleet) -> Command:
    """One Python process: call_command("migrate", database=alias) + alembic upgrade per tenant."""
    argv = [str(PYTHON), str(BENCH / "inproc.py"), "--alembic-ini", str(fleet.project.alembic_ini)]
    shown = "BENCH_ALL_TENANTS=1 .venv/bin/python " + shlex.join(a.replace(f"{REPO}/", "") for a in argv[1:])
    return Command("inproc", argv, fleet.env(all_tenants=True), fleet.tenants, True, shown)


def shell(fleet: Fleet, sample: int | None) -> Command:
    """A bash loop: `manage.py migrate --database t<i>` (+ `alembic upgrade head`) per tenant, one process each.

    The example's env.py reads only sqlalchemy.url, so there the loop is Django only (compare with `trdj`).
    """
    project = fleet.project
    tenants = fleet.tenants[:sample] if sample else fleet.tenants
    alembic = project.key == "workload"
    listing = fleet.folder / "shell_tenants.tsv"
    listing.write_text("".join(f"{t.alias}\t{t.sa_url}\n" for t in tenants), encoding="utf-8")
    manage = f"{shlex.quote(str(PYTHON))} {shlex.quote(str(project.manage_py))} migrate -v0 --database"
    lines = ["set -euo pipefail"]
    if project.central:
        lines.append(f"BENCH_MIGRATE_ALIAS=central {manage} central")
    loop = f'BENCH_MIGRATE_ALIAS="$alias" {manage} "$alias"'
    if alembic:
        loop += f'\n  {shlex.quote(str(ALEMBIC))} -c {shlex.quote(str(project.alembic_ini))} -x url="$url" upgrade head'
    lines.append(f"while IFS=$'\\t' read -r alias url; do\n  {loop}\ndone < {shlex.quote(str(listing))}")
    script = fleet.folder / "shell_loop.sh"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Command(
        "shell", ["bash", str(script)], fleet.env(all_tenants=True), tenants, alembic, f"bash {script}"
    )


def run_timed(command: Command, log: Path) -> Timing:
    """Run the command under bench/timed.py (a fresh wrapper process, so ru_maxrss is this run's)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [str(PYTHON), str(BENCH / "timed.py"), str(log), "--", *command.argv],
        env=command.env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return Timing(
        data["wall_s"], data["maxrss_kib"], data["exit_code"], log, data["cpu_s"], data["machine_busy_s"]
    )
