"""The phases of a migrate run, each finished before the next starts (see engine.py for the order).

1. coarse assistants (those that take over a whole ORM) run as they are, and every reserved database is
   migrated, in TENANT_ROUTER_ORM_SETTINGS order, in this process; a reserved failure stops the run;
2. pre-flight: each (ORM, tenant, alias) database's bookkeeping table is read and compared with the
   migration graph; up-to-date and unreachable databases are settled here (also `status`'s read);
3. the pending databases are migrated in waves (canary tenants first), one ORM after the other (a
   tenant's ORMs keep their order), by the run's executor; busy ones are taken again in rounds.
"""

from __future__ import annotations

from ..config.model import OrmSpec, RouterConfig
from ..errors import UsageError
from ..executors import Executor
from ..executors.inprocess import InProcessExecutor
from ..executors.tasks import Task, batched
from ..orm_backends.assistants import Assistants
from ..preflight import Inspection, Unreachable, Verdict
from ..provision.missing import Creations
from ..record.events import FAILED_OR_BUSY, Status, TenantFailed, TenantSkipped
from ..record.keys import DbKey
from ..record.orm_report import OrmReport
from ..record.report import MigrationReport
from .drift import check_databases
from .requeue import Requeue

#: What a canary database may end as for the rest of the fleet to go on.
CANARY_OK = frozenset({Status.MIGRATED, Status.UP_TO_DATE, Status.SKIPPED, Status.CREATED})


def migrate_reserved_and_coarse(
    specs: list[OrmSpec], assistants: Assistants, report: MigrationReport
) -> None:
    """Phase 1, in this process and in ORM order."""
    for spec in specs:
        if report.stopping:
            return
        asst = assistants.get(spec.key)
        if asst.is_coarse():
            with OrmReport(report, spec.key).tenant(None):  # one row for the ORM if it reports none
                asst.perform_migrate()
        else:
            asst.migrate_reserved()


def leave_reserved(report: MigrationReport, planned: list[DbKey]) -> None:
    """`create`: the reserved databases (and coarse assistants' ORMs) are left as they are, and say so."""
    for key in planned:
        if key.tenant is None:
            report.emit(TenantSkipped(*key, "reserved: left as it is (`migrate` brings it to head)"))


def preflight(
    databases: list[DbKey], assistants: Assistants, runner: Executor, *, settle: bool
) -> dict[str, dict[DbKey, Verdict]]:
    """Verdicts per ORM for every database whose assistant can inspect it (batched per tenant)."""
    keys = [k for k in databases if k.alias is not None and assistants.get(k.orm).inspects()]
    tasks = batched("inspect", keys, assistants, settle)
    verdicts: dict[str, dict[DbKey, Verdict]] = {}
    for key, verdict in runner.run(tasks):
        verdicts.setdefault(key.orm, {})[key] = verdict
    return verdicts


def settle_missing(
    verdicts: dict[str, dict[DbKey, Verdict]], report: MigrationReport, creations: Creations | None
) -> list[DbKey]:
    """Databases the server says do not exist: reported MISSING, or (with `creations`) created empty
    and returned, to be migrated with the pending ones."""
    missing = [
        key
        for by_key in verdicts.values()
        for key, verdict in by_key.items()
        if isinstance(verdict, Unreachable) and verdict.label == "missing"
    ]
    if creations is not None:
        return creations.create(missing)
    for key in missing:
        verdict = verdicts[key.orm][key]
        assert isinstance(verdict, Unreachable)
        report.emit(TenantFailed(*key, verdict.line, None, 0.0, status=Status.MISSING))
    return []


def create_new_files(pending: list[DbKey], creations: Creations) -> tuple[list[DbKey], list[DbKey]]:
    """SQLite files that do not exist yet: copied from their folder's template (reported created) or,
    when they cannot be, left to the migration that creates them: (the other pending keys, those new
    files to migrate)."""
    new = creations.new_files(pending)
    if not new:
        return pending, []
    ready = set(creations.create(new))
    fresh = set(new)
    return [key for key in pending if key not in fresh], [key for key in new if key in ready]


def leave_existing(pending: list[DbKey], created: list[DbKey], creations: Creations) -> list[DbKey]:
    """`create`: only the databases this run created, or an earlier run created and never finished, are
    migrated; the others are left as they are."""
    made = set(created)
    finish = set(creations.adopt([key for key in pending if key not in made]))
    for key in pending:
        if key not in made and key not in finish:
            creations.report.emit(TenantSkipped(*key, "exists: left as it is (`migrate` brings it to head)"))
    return [key for key in pending if key in made or key in finish]


def needs_work(verdict: Verdict) -> bool:
    """Unknown, or pending steps; unreachable databases were settled by the pre-flight."""
    if isinstance(verdict, Unreachable):
        return False
    return verdict is None or not verdict.up_to_date


def refuse_irreversible(verdicts: dict[str, dict[DbKey, Verdict]]) -> None:
    """A rollback through a migration that cannot be reversed is refused before anything runs."""
    found: dict[str, list[str]] = {}
    for by_key in verdicts.values():
        for (_orm, tenant, alias), verdict in by_key.items():
            if isinstance(verdict, Inspection):
                for step in verdict.irreversible:
                    found.setdefault(step, []).append(f"{tenant}/{alias}")
    if found:
        step, where = next(iter(found.items()))
        more = f" (and {len(found) - 1} more migration(s))" if len(found) > 1 else ""
        raise UsageError(
            f"Cannot roll back: migration {step} is irreversible{more}; {len(where)} database(s) would "
            f"need it reversed, e.g. {where[0]}. Nothing was touched.",
            hint="Pick a target after it, or give the migration a reverse (reverse_code / reverse_sql).",
        )


def refuse_drifted(
    config: RouterConfig,
    assistants: Assistants,
    runner: Executor | None,
    report: MigrationReport,
    pending: list[DbKey],
) -> list[DbKey]:
    """--refuse-drift: the pending databases whose schema drifted are reported DRIFTED and left alone.

    Schemas are read by `runner`, or in this process when None (the run's executor is remote)."""

    drifted = set()
    reader = runner or InProcessExecutor(assistants, report)
    for row in check_databases(pending, assistants, reader, config.drift_scratch):
        if row.state == "drifted":
            key = DbKey(row.orm, row.tenant, row.alias)
            drifted.add(key)
            report.emit(TenantFailed(*key, row.explain(), None, 0.0, None, Status.DRIFTED))
    return [key for key in pending if key not in drifted]


def migrate_in_waves(
    assistants: Assistants,
    runner: Executor,
    report: MigrationReport,
    pending: list[DbKey],
    canary: list[str],
    requeue: Requeue,
) -> None:
    """Canary tenants first (stop unless each reached its target), then the rest; one ORM at a time within
    a wave (in the order the run's assistants were built: the settings'), its busy databases taken again
    (rounds) before the next ORM starts."""
    first = set(canary)
    waves = (
        [[k for k in pending if k.tenant in first], [k for k in pending if k.tenant not in first]]
        if canary
        else [pending]
    )
    for number, wave in enumerate(waves):
        for orm in assistants.orms():  # one ORM at a time: each tenant's ORMs are migrated in settings order
            if report.stopping:
                return
            keys = [k for k in wave if k.orm == orm]
            while keys and not report.stopping:
                runner.run(Task("migrate", (k,), assistants.host_of(k)) for k in keys)
                keys = requeue.next_round(orm, report)
        if canary and number == 0 and not report.stopping:  # the pre-flight's verdicts count too
            report_canaries(report, canary)


def pick_canaries(candidates: list[str], pending: list[DbKey], report: MigrationReport) -> list[str]:
    """`--canary`'s candidates: the tenants of `candidates` (in order) with something to try, a pending
    database or one the pre-flight could not read; a tenant already at its target proves nothing."""
    wanted = {k.tenant for k in pending} | {r.tenant for r in report.rows() if r.status in FAILED_OR_BUSY}
    return [t for t in candidates if t in wanted]


def report_canaries(report: MigrationReport, canary: list[str]) -> None:
    """Stop the run unless every canary database reached its target (one locked by another run, or
    interrupted, was not tried: it proves nothing either)."""
    first = set(canary)
    bad = {r.tenant: r.status for r in report.rows() if r.tenant in first and r.status not in CANARY_OK}
    if bad:
        named = ", ".join(f"{tenant}: {status}" for tenant, status in list(bad.items())[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        report.stop(
            f"--canary: {len(bad)} of the first {len(canary)} tenant(s) failed or did not reach "
            f"the target ({named}{more})"
        )


def mark_not_started(report: MigrationReport, planned: list[DbKey]) -> None:
    """Every planned database the run never reached gets a NOT_STARTED row."""
    reason = report.stop_reason or "not reached"
    seen_orms = {r.orm for r in report.rows()}
    for orm, tenant, alias in planned:
        if (orm, tenant, alias) in report.results:
            continue
        if tenant is None and alias is None and orm in seen_orms:
            continue  # a coarse assistant that reported rows of its own
        if alias is None and any(r.orm == orm and r.tenant == tenant for r in report.rows()):
            continue
        OrmReport(report, orm).not_started(tenant, alias, reason)
