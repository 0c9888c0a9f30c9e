"""Run one command and print its wall time and peak RSS as JSON: `python bench/timed.py LOG -- CMD...`.

A fresh process per timed command, so RUSAGE_CHILDREN's ru_maxrss is the largest process of this run
alone: the command itself or any descendant it waited for (workers, each `manage.py` of a shell loop).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main() -> None:
    """Time argv after `--`, its output going to the log file named first."""
    log, sep, *cmd = sys.argv[1:]
    if sep != "--" or not cmd:
        raise SystemExit(__doc__)
    with open(log, "wb") as out:
        start = time.perf_counter()
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - start
    maxrss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    print(json.dumps({"wall_s": wall, "maxrss_kib": maxrss_kib, "exit_code": code}))


if __name__ == "__main__":
    main()
