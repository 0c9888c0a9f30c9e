"""Profile one `tenant-router migrate --jobs 1` over a freshly provisioned fleet (cProfile, in-process).

.venv/bin/python bench/profile.py --backend postgres --tenants 50 --state behind [--top 40] [--sort tottime]

Prints wall time and the top functions; the raw profile is left in bench/work/profile.out for pstats/snakeviz.
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import time

import contenders
from provision import PYTHON, WORK, WORKLOAD, make_fleet, provision, teardown
from verify import expected_heads, verify


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip())
    parser.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--tenants", type=int, required=True)
    parser.add_argument("--state", choices=("empty", "behind", "current"), required=True)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative")
    args = parser.parse_args()
    fleet = make_fleet(WORKLOAD, args.backend, args.tenants)
    out = WORK / "profile.out"
    try:
        provision(fleet, args.state)
        command = contenders.tenant_router(fleet, args.jobs)
        argv = [str(PYTHON), "-m", "cProfile", "-o", str(out), *command.argv]
        started = time.perf_counter()
        subprocess.run(argv, env=command.env, check=True)
        print(f"wall {time.perf_counter() - started:.2f}s (under cProfile, --jobs {args.jobs})")
        verify(fleet, expected_heads(fleet), fleet.tenants, alembic=True, what="profile")
    finally:
        teardown(fleet)
    pstats.Stats(str(out)).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
