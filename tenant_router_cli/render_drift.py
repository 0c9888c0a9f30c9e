"""`tenant-router drift`'s report -> plain lines or one JSON object."""

from __future__ import annotations

from tenant_router import DRIFT_STATES, REDACTOR, DatabaseDrift, DriftReport, output_line, output_shown

from .output import Output
from .render import json_line


def render_drift(output: Output, report: DriftReport, *, json_output: bool, tenants: bool) -> None:
    """One summary line per ORM; the databases of each group with --tenants; notes for extra tables."""
    for logged in report.output:  # warnings and errors of the scratch migrations, on stderr
        if output_shown(logged, 1):
            output.error(output_line(logged))
    if json_output:
        output.raw(json_line({"event": "drift", **report.to_dict()}))
        return

    def line(text: str) -> None:  # tenant ids escaped (Output.line), passwords masked
        output.line(REDACTOR(text))

    for orm in report.orms:
        line(f"{orm}: {report.summary(orm)}")
        if tenants:
            for group in report.groups(orm):
                short = f" [{group.fingerprint[:12]}]" if group.fingerprint else ""
                line(f"  {len(group.databases)} {DRIFT_STATES[group.state]}{short}:")
                for db in group.databases:
                    line(f"    {db.label}{_detail(db)}")
        for db in report.drifted:
            if db.orm == orm and len(db.differences) > 3:  # the summary shows three of them
                line(f"  {db.label}: " + "; ".join(d.describe() for d in db.differences))
    for (orm, tables), databases in _notes(report).items():
        shown = ", ".join(d.label for d in databases[:3]) + (
            f" and {len(databases) - 3} more" if len(databases) > 3 else ""
        )
        line(
            f"note: {orm}: {len(databases)} database(s) with {len(tables)} table(s) outside their "
            f"migrations ({', '.join(tables)}): {shown}"
        )


def _notes(report: DriftReport) -> dict[tuple[str, tuple[str, ...]], list[DatabaseDrift]]:
    """Databases with extra tables, grouped by ORM and table names (shared databases all show alike)."""
    found: dict[tuple[str, tuple[str, ...]], list[DatabaseDrift]] = {}
    for db in report.notes:
        found.setdefault((db.orm, tuple(d.table for d in db.notes)), []).append(db)
    return found


def _detail(db: DatabaseDrift) -> str:
    if db.state == "drifted":
        return f"  {'; '.join(d.describe() for d in db.differences)}"
    if db.error:
        return f"  {db.error}"
    if db.state == "pending":
        return f"  at {db.current}, {len(db.pending)} pending"
    return ""
