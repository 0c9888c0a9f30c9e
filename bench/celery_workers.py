"""Real `celery worker` processes for the `celery` contender: started before the rounds, stopped after.

Workers are long-lived in production, so their start-up is not part of the timed command; it is
measured here (from the first Popen to the last " ready." line) and recorded next to the timings. Each
bench invocation consumes a queue of its own (`bench_<hex>`), so a test suite or another bench on the
same Redis never takes its tasks. CPU of the workers is read from /proc around each timed command
(timed.py sees only the dispatcher, the workers are not its children).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from provision import REPO

CELERY = REPO / ".venv" / "bin" / "celery"
APP = "benchsite.celery:app"
DEFAULT_BROKER = "redis://127.0.0.1:6379/11"


def broker_url() -> str:
    """The broker of the bench's workers and dispatcher (CELERY_BROKER_URL, else Redis database 11)."""
    return os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER


def _ticks(pid: int) -> tuple[int, int]:
    """(utime+stime, cutime+cstime) of a process, in clock ticks; (0, 0) when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return []


def _hwm_kib(pid: int) -> int:
    """VmHWM (peak resident set) of a live process, KiB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Workers:
    """N workers (`-c 1` each, node names w1..wN) consuming one queue of this bench run."""

    count: int
    env: dict[str, str]
    logs: Path
    queue: str = field(default_factory=lambda: f"bench_{uuid.uuid4().hex[:8]}")
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    startup_s: float = 0.0

    def start(self, timeout: float = 120.0) -> float:
        """Start every worker at once and wait until each says " ready."; return the seconds it took."""
        self.logs.mkdir(parents=True, exist_ok=True)
        begin = time.perf_counter()
        for i in range(1, self.count + 1):
            name = f"w{i}"
            argv = [
                str(CELERY), "-A", APP, "worker", "-Q", self.queue, "-n", f"{name}@%h", "-c", "1",
                "-l", "info", "--without-gossip", "--without-mingle",
            ]  # fmt: skip
            with (self.logs / f"{self.queue}-{name}.log").open("wb") as out:
                self.procs[name] = subprocess.Popen(
                    argv, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        deadline = time.monotonic() + timeout
        waiting = set(self.procs)
        while waiting:
            for name in sorted(waiting):
                if " ready." in self.log(name):
                    waiting.discard(name)
                elif self.procs[name].poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"celery worker {name} did not start:\n{self.log(name)[-3000:]}")
            time.sleep(0.05)
        self.startup_s = time.perf_counter() - begin
        return self.startup_s

    def log(self, name: str) -> str:
        return (self.logs / f"{self.queue}-{name}.log").read_text(errors="replace")

    def cpu_s(self) -> float:
        """CPU seconds the workers have used so far: main processes, live pool children, reaped ones."""
        ticks = 0
        for proc in self.procs.values():
            own, reaped = _ticks(proc.pid)
            ticks += own + reaped
            for child in _children(proc.pid):
                ticks += sum(_ticks(child))
        return ticks / os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self) -> int:
        """The largest VmHWM among the live worker processes (main and pool children)."""
        pids = [p.pid for p in self.procs.values()]
        pids += [c for p in self.procs.values() for c in _children(p.pid)]
        return max((_hwm_kib(pid) for pid in pids), default=0)

    def stop(self) -> None:
        """SIGTERM (warm shutdown) to each worker's process group; SIGKILL after 20 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
