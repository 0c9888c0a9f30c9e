"""Real Celery workers for the executor tests: `celery worker` processes on a copy of the clinic example.

Each worker is its own process group (so a test can kill a whole "machine" with -9), consumes one queue
named for the test module, and talks to the local Redis on a database number of the module's own.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from support.processes import clean_environment

CELERY = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

SLOW_MIGRATION = '''
import json
import os
import time
from pathlib import Path

from django.db import migrations

CONTROL = Path(__file__).resolve().parents[2] / "pause.json"


def pause(apps, schema_editor):
    """Sleep as pause.json says, first writing this process's pid to <pids>/<database name>.pid."""
    control = json.loads(CONTROL.read_text()) if CONTROL.exists() else {}
    if control.get("pids"):
        name = schema_editor.connection.settings_dict["NAME"]
        Path(control["pids"], f"{name}.pid").write_text(str(os.getpid()))
    time.sleep(control.get("seconds", 0))


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_visit_index")]
    operations = [migrations.RunPython(pause, migrations.RunPython.noop)]
'''


def require_redis() -> None:
    """Skip (locally) or fail (under CI) when Redis is not on 127.0.0.1:6379."""
    import redis

    try:
        redis.Redis(REDIS_HOST, REDIS_PORT, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS_HOST}:{REDIS_PORT} unreachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def add_slow_migration(example: Path) -> None:
    """patients.0004_pause: sleeps as example/pause.json says (see set_pause); not at all without it."""
    (example / "patients" / "migrations" / "0004_pause.py").write_text(SLOW_MIGRATION)


def set_pause(example: Path, seconds: float, pids: Path | None = None) -> None:
    """How long patients.0004_pause sleeps, and where it writes the pid of the process running it."""
    (example / "pause.json").write_text(json.dumps({"seconds": seconds, "pids": str(pids) if pids else None}))


class Workers:
    """Celery workers of one example copy, one queue, one Redis database."""

    def __init__(self, example: Path, queue: str, db: int) -> None:
        self.example, self.queue, self.db = example, queue, db
        self.broker = f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.logs = example.parent / f"celery-logs-{queue}"
        self.logs.mkdir(exist_ok=True)

    def env(self) -> dict[str, str]:
        """The environment of the run's process and of the workers (same broker)."""
        return clean_environment(self.example, CELERY_BROKER_URL=self.broker)

    def start(self, name: str, *, concurrency: int = 1) -> None:
        """Start worker `name` (node name name@host) and wait until it is ready."""
        log = self.logs / f"{name}.log"
        args = [
            CELERY, "-A", "clinic.celery:app", "worker", "-Q", self.queue, "-n", f"{name}@%h",
            "-c", str(concurrency), "-l", "info", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        with log.open("w") as out:
            self.procs[name] = subprocess.Popen(
                args, cwd=self.example, env=self.env(), stdout=out, stderr=subprocess.STDOUT, text=True,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text():
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {name} did not start:\n{log.read_text()}")
            time.sleep(0.2)

    def ensure(self, *names: str) -> None:
        """These workers running (started again if a test killed one)."""
        for name in names:
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                self.start(name)

    def pool_child(self, name: str) -> int:
        """The pid of the process that executes worker `name`'s tasks (its prefork pool child)."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.procs[name].pid)], capture_output=True, text=True, check=True
        )
        return int(out.stdout.split()[0])

    def kill(self, name: str) -> None:
        """kill -9 the whole worker (main process and pool): a machine gone."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        """Stop every worker (TERM, then KILL after 20 seconds)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def log(self, name: str) -> str:
        """What worker `name` has logged so far."""
        return (self.logs / f"{name}.log").read_text()


def unique_queue() -> str:
    """A queue name no other test module uses."""
    return f"tr_test_{uuid.uuid4().hex[:8]}"


def redis_db() -> int:
    """A Redis database number for a test module (1..15; 0 is the example's default)."""
    return random.randint(1, 15)
