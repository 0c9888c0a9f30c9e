"""Real processes: the one way the tests run the CLI (or Python, or manage.py) in a subprocess.

`clean_environment()` is the environment every child gets: the test session's own, less what would
steer the child somewhere else (the session's DJANGO_SETTINGS_MODULE, NO_COLOR, the corpus switches),
with the repository first on PYTHONPATH so the child runs the code under test and not an installed
copy; an inherited PYTHONPATH is kept after it. `run()` runs a command to its end, `Streamed`
one whose --json lines the test reads as they come.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from support.paths import ROOT

EXE = shutil.which("tenant-router", path=str(Path(sys.executable).parent)) or "tenant-router"
CLI = [sys.executable, "-m", "tenant_router_cli"]  # the CLI as a module of the interpreter running the tests

# Never passed on: the session's Django settings (conftest sets trsite.settings; a child names its own) and
# NO_COLOR (the tests check colour off a terminal themselves). TR_TEST_STATE_DIR is passed on: a child that
# runs tests/trsite shares the session's state folder (its central database); other children ignore it.
DROPPED = ("DJANGO_SETTINGS_MODULE", "NO_COLOR")


def clean_environment(*paths: Path | str, importable: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a child process: `paths`, then the repository, then any inherited PYTHONPATH.

    importable=False leaves PYTHONPATH out altogether (a test of an installed wheel). `extra` is set last.
    """
    env = {k: v for k, v in os.environ.items() if k not in DROPPED and not k.startswith("CORPUS_")}
    inherited = [entry for entry in env.pop("PYTHONPATH", "").split(os.pathsep) if entry]
    if importable:
        entries = [str(path) for path in paths] + [str(ROOT), *inherited]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(entries))
    env.update(extra)
    return env


def forget_shell_settings() -> None:
    """Drop tenant-router's own variables inherited from the shell (the test servers' URLs stay).

    Called once when the session starts, so that neither the in-process tests nor their children see a
    TENANT_ROUTER_TENANT_CONFIG or TENANT_ROUTER_JOURNAL_DIR of the developer's; what a test sets itself
    (monkeypatch.setenv) still reaches the processes it starts.
    """
    for name in [k for k in os.environ if k.startswith("TENANT_ROUTER_")]:
        if not name.startswith("TENANT_ROUTER_TEST_"):
            del os.environ[name]
    os.environ.pop("NO_COLOR", None)


def run(
    command: Sequence[str | Path],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `command` to its end in `cwd` (environment: clean_environment() unless given); its text output.

    check=True fails the test, with what the process printed, when it exits non-zero.
    """
    args = [str(part) for part in command]
    result = subprocess.run(
        args,
        cwd=cwd,
        env=clean_environment() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def events(stdout: str) -> list[dict[str, Any]]:
    """The JSON Lines of a --json run."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def report_of(stdout: str) -> dict[str, Any]:
    """The final `report` line of a --json run's stdout."""
    report = events(stdout)[-1]
    assert report["event"] == "report", stdout
    return report


class Streamed:
    """A running `tenant-router ... --json` whose stdout lines are collected as they come."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=clean_environment() if env is None else env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._errors: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._pump_errors, daemon=True)
        self._err_reader.start()

    def _pump_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self._errors.append(line)
                self._changed.notify_all()

    def wait_for_error(self, text: str, timeout: float = 60) -> None:
        """Wait until stderr shows `text`; fails if the process ends first."""
        with self._changed:
            while text not in "".join(self._errors):
                if self.proc.poll() is not None and not self._err_reader.is_alive():
                    raise AssertionError(f"process ended first: {self.stderr()}")
                if not self._changed.wait(timeout):
                    raise AssertionError(f"{text!r} not on stderr within {timeout}s: {self.stderr()}")

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        """The first event matching `predicate` (waiting for it); fails if the process ends first."""
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    event = json.loads(line)
                    if predicate(event):
                        return event
                seen = len(self.lines)
                if not self._reader.is_alive():
                    raise AssertionError(f"process ended first: {''.join(self.lines)}{self.stderr()}")
                if not self._changed.wait(timeout):
                    raise AssertionError(f"no such event within {timeout}s: {''.join(self.lines)}")

    def finish(self, timeout: float = 90) -> tuple[int, str, str]:
        """Exit code, whole stdout, stderr."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        self._err_reader.join(timeout)
        return code, "".join(self.lines), self.stderr()

    def stderr(self) -> str:
        return "".join(self._errors)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def is_event(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    """A predicate for Streamed.wait_for: an event of this kind with these fields."""
    return lambda e: e.get("event") == kind and all(e.get(k) == v for k, v in fields.items())


def gone(pid: int) -> bool:
    """The process has exited (a zombie counts: it runs no more code)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.split()[1:2] == ["Z"] for line in status if line.startswith("State:"))
    except FileNotFoundError:
        return True


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    """Poll `condition` until it is true (a generous timeout: it only bounds a hung test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
