"""Helpers for the operations tests: a copy of the clinic example run through real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import EXAMPLE, ROOT

EXE = shutil.which("tenant-router", path=str(Path(sys.executable).parent)) or "tenant-router"


def clinic_copy(tmp: Path) -> Path:
    """A fresh copy of examples/clinic: no database, no lock file, no journal."""
    target = tmp / "clinic"
    shutil.copytree(
        EXAMPLE,
        target,
        ignore=shutil.ignore_patterns("*.sqlite3", "*.lock", "__pycache__", ".tenant-router"),
    )
    return target


def write_django_tenants(example: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Replace the example's tenants: each gets only a django_orm.default entry."""
    tenants = {t: {"clinic": {"orm_config": {"django_orm": {"default": e}}}} for t, e in entries.items()}
    (example / "tenant_config.json").write_text(json.dumps({"tenant_config": tenants}, indent=2))


def pg_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "TR_TEST_STATE_DIR")}
    env["PYTHONPATH"] = str(ROOT)
    env.pop("NO_COLOR", None)
    return env


def migrate_args(example: Path, journal: Path, *extra: str) -> list[str]:
    """The console script's `migrate` on the copy, Django ORM only, journal in `journal`."""
    return [
        EXE, "migrate", "--settings", "clinic.settings", "--pythonpath", str(example),
        "--orm", "django_orm", "--journal", str(journal), *extra,
    ]  # fmt: skip


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=120)


def events(stdout: str) -> list[dict[str, Any]]:
    """The JSON Lines of a --json run."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def report_of(stdout: str) -> dict[str, Any]:
    report = events(stdout)[-1]
    assert report["event"] == "report", stdout
    return report


class Streamed:
    """A running `tenant-router ... --json` whose stdout lines are collected as they come."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
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
    return lambda e: e.get("event") == kind and all(e.get(k) == v for k, v in fields.items())
