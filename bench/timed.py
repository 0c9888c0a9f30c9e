"""Run one command and print its wall time, peak RSS and CPU as JSON: `python bench/timed.py LOG -- CMD...`.

A fresh process per timed command, so RUSAGE_CHILDREN's ru_maxrss is the largest process of this run
alone: the command itself or any descendant it waited for (workers, each `manage.py` of a shell loop).
CPU: user+system seconds of that process tree, and of the whole machine over the same wall time (from
/proc/stat): the difference is what the database server (and anything else) spent meanwhile.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time


def machine_busy_s() -> float:
    """CPU seconds the machine has spent not idle since boot (user, nice, system, irq, softirq, steal)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    """Time argv after `--`, its output going to the log file named first."""
    log, sep, *cmd = sys.argv[1:]
    if sep != "--" or not cmd:
        raise SystemExit(__doc__)
    with open(log, "wb") as out:
        busy = machine_busy_s()
        start = time.perf_counter()
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - start
        busy = machine_busy_s() - busy
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        json.dumps(
            {
                "wall_s": wall,
                "maxrss_kib": usage.ru_maxrss,  # KiB on Linux
                "exit_code": code,
                "cpu_s": round(cpu, 3),
                "machine_busy_s": round(busy, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
