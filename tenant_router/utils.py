"""`migrate_to_all()`: the seed's one-liner for `manage.py shell`, a thin wrapper over the engine."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .config.loader import load_config
from .errors import TenantMigrationError
from .record.events import FAILED_OR_BUSY
from .record.plaintext import PlainProgress, format_summary
from .record.report import MigrationReport
from .run.engine import migrate_tenants


def migrate_to_all(
    *,
    orm: Sequence[str] = (),
    tenant: Sequence[str] = (),
    exclude: Sequence[str] = (),
    fail_fast: bool = False,
    stdout: TextIO | None = None,
    verbosity: int = 1,
    **options: Any,
) -> MigrationReport:
    """Migrate every ORM of every tenant, print a plain report, and raise if any tenant failed.

    Other keyword arguments (jobs, lock_timeout, lock_wait, lock_retries, target, ...) go to
    `migrate_tenants`.
    """
    out = stdout or sys.stdout

    def write(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    report = migrate_tenants(
        load_config(),
        orm=orm,
        tenant=tenant,
        exclude=exclude,
        fail_fast=fail_fast,
        on_event=PlainProgress(write, verbosity=verbosity),
        **options,
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
