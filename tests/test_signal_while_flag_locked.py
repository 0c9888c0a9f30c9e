"""A Ctrl-C that lands while the run holds the stop flag's lock (it reads the flag all the time) must not
deadlock the run: the handler sets a flag of its own process and takes no lock. Seen: a run interrupted
with SIGINT hung for ever in `multiprocessing.Event.is_set()` inside the handler."""

from __future__ import annotations

import subprocess
import sys

from support.processes import clean_environment

SCRIPT = """
import os, signal, time
from tenant_router.safety import cancel
from tenant_router_cli.output import make_output
from tenant_router_cli.signals import graceful_interrupts

cancel.reset()
with graceful_interrupts(make_output(progress=False)):
    with cancel._flag._cond:  # as when the signal interrupts stop_requested() mid-way
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
    print("asked", cancel.stop_requested(), flush=True)
"""


def test_a_signal_while_the_stop_flag_is_locked_does_not_hang_the_run() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=clean_environment(), capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "asked True", done.stdout + done.stderr
