"""`migrate_to_all()`: the seed's one-liner for `manage.py shell`, a thin wrapper over `api.migrate_tenants`."""

from __future__ import annotations

import sys
from typing import TextIO

from .api import migrate_tenants
from .config.loader import load_config
from .errors import TenantMigrationError
from .executors import ExecutorSpec
from .record.events import FAILED_OR_BUSY
from .record.plaintext import PlainProgress, format_summary
from .record.report import MigrationReport
from .run.requests import RunPolicy, Selection

_EVERYTHING = Selection()
_DEFAULT_POLICY = RunPolicy()
_IN_PROCESS = ExecutorSpec()


def migrate_to_all(
    selection: Selection = _EVERYTHING,
    policy: RunPolicy = _DEFAULT_POLICY,
    *,
    executor: ExecutorSpec = _IN_PROCESS,
    stdout: TextIO | None = None,
    verbosity: int = 1,
) -> MigrationReport:
    """Migrate every ORM of every tenant, print a plain report, and raise if any tenant failed.

    `selection`, `policy` and `executor` are migrate_tenants()'s (see tenant_router.api).
    """
    out = stdout or sys.stdout

    def write(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    report = migrate_tenants(
        load_config(),
        selection,
        policy,
        executor=executor,
        on_event=PlainProgress(write, verbosity=verbosity),
    )
    for line in format_summary(report):
        write(line)
    if not report.ok:
        bad = [r for r in report.rows() if r.status in FAILED_OR_BUSY]
        failed = [f"{r.orm} {r.label}" for r in bad]
        unstarted = sum(1 for r in report.rows() if r.status is not None and r.status == "not_started")
        detail = "; ".join(f"{r.orm} {r.label}: {r.error}" for r in bad)
        raise TenantMigrationError(
            f"{len(failed)} database(s) failed to migrate"
            + (f" and {unstarted} were not started" if unstarted else "")
            + (f": {detail}" if detail else "."),
            failures=failed,
        )
    return report
