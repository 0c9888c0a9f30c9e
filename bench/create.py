"""New tenants at head: `tenant-router create` from a template against `--no-template` (migrating).

    .venv/bin/python bench/create.py --tenants 100 [--rounds 1]

PostgreSQL, the bench workload (44 Django migrations and 10 Alembic revisions in one database per
tenant). Each round: drop the fleet's databases and any template, then `create --tenant '*'` with a
template (the first tenant pays the build, reported apart) and with --no-template. Per-database seconds
come from the JSON report; every database is checked at head afterwards (bench/verify.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

from provision import PYTHON, WORKLOAD, make_fleet, pg_databases, pg_drop
from verify import expected_heads, verify

PREFIX = "benchtpl"


def create(fleet, *options: str) -> tuple[float, list[float], set[str]]:  # type: ignore[no-untyped-def]
    command = [
        str(PYTHON), "-m", "tenant_router_cli", "create", "--tenant", "*", "--orm", "django_orm",
        "--orm", "sqlalchemy_orm", "--settings", WORKLOAD.settings, "--json", "--no-journal", *options,
    ]  # fmt: skip
    env = fleet.env()
    env["BENCH_TEMPLATE_PREFIX"] = PREFIX
    began = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"create {' '.join(options)} exited {done.returncode}: {done.stderr[-2000:]}")
    rows = [r for r in json.loads(done.stdout.splitlines()[-1])["results"] if r["orm"] == "django_orm"]
    return wall, [r["seconds"] for r in rows], {r["status"] for r in rows}


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    fleet = make_fleet(WORKLOAD, "postgres", args.tenants)
    expected = expected_heads(fleet)
    try:
        for round_ in range(1, args.rounds + 1):
            for label, options in (("template", ()), ("no-template", ("--no-template",))):
                pg_drop(pg_databases(WORKLOAD.db_prefix) + pg_databases(PREFIX))
                wall, seconds, statuses = create(fleet, *options)
                verify(fleet, expected, fleet.tenants, alembic=True, what=label)
                first, rest = seconds[0], seconds[1:]
                print(
                    f"round {round_} {label:12} {args.tenants} tenants: wall {wall:.1f}s, "
                    f"{statuses}, first {first:.2f}s, then median {statistics.median(rest):.3f}s "
                    f"p95 {p95(rest):.3f}s per tenant database"
                )
    finally:
        pg_drop(pg_databases(WORKLOAD.db_prefix) + pg_databases(PREFIX))


if __name__ == "__main__":
    main()
