"""The migrate run: reserved databases, a pre-flight of every tenant database, then the pending ones.

`migrate()` sets the run up (selection, checks, report, assistants, executor, journal) and carries out
the phases of `phases.py` in order; whatever happens, every planned database ends with a row.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .. import telemetry
from ..config.environment import template_prefix
from ..config.model import RouterConfig
from ..errors import ExecutorError, ScratchDatabaseError, TenantRouterError
from ..executors import Executor, ExecutorSpec, make_executor, open_early
from ..orm_backends.assistants import AssistantSetup
from ..provision.missing import Creations
from ..provision.templates import Templates
from ..record.captured import OutputCapture
from ..record.events import MigrationEvent, RunStarted
from ..record.journal import Journal, header_for
from ..record.orm_report import report_unconfigured
from ..record.report import MigrationReport, _ignore
from ..safety import cancel
from . import phases
from .described import run_options
from .fleet import Fleet
from .requests import JournalSpec, RunPolicy, Selection
from .requeue import Requeue


class RunInterrupted(TenantRouterError):
    """The run was interrupted (Ctrl-C); `report` says what finished and what never started."""

    def __init__(self, report: MigrationReport) -> None:
        super().__init__(
            "Interrupted: no new database was started; running ones stopped at a migration boundary."
        )
        self.report = report


class RunAborted(TenantRouterError):
    """The run could not go on after it had begun (the executor was lost, `--refuse-drift` could not make
    its scratch database): `error` says why, `report` what finished before it stopped."""

    def __init__(self, error: TenantRouterError, report: MigrationReport) -> None:
        super().__init__(error.message, hint=error.hint)
        self.error, self.report = error, report


def migrate(
    config: RouterConfig | None,
    selection: Selection,
    policy: RunPolicy,
    executor: ExecutorSpec,
    journal: JournalSpec | None = None,
    on_event: Callable[[MigrationEvent], None] = _ignore,
) -> MigrationReport:
    """Bring every selected tenant database to its latest migration (or the policy's target)."""
    fleet = Fleet.select(config, selection)
    executor.check()
    limits, retry = policy.check(executor.max_per_host)
    # read (and checked) before anything is touched, and only by a run that copies templates
    prefix = template_prefix() if policy.create_missing and policy.template else None
    target = policy.target
    cancel.reset()
    requeue = Requeue(retry)
    report = MigrationReport(
        on_event, fail_fast=policy.fail_fast, max_failures=policy.max_failures, responders=(requeue.answer,)
    )
    setup = AssistantSetup(target, policy.locks.timeout, limits.lock_wait, limits.statement_timeout)
    assistants = fleet.bind(setup, report, executor)
    planned = fleet.planned(reserved=not target)
    redo = selection.databases
    if redo is not None:
        planned = [key for key in planned if key.tenant is None or key in redo]
    found, unconfigured = fleet.tenant_databases(planned)  # reported skipped after the reserved ones
    command = "create" if policy.only_missing else "rollback" if target else "migrate"
    traced = telemetry.listener_for(report, assistants, executor, command)  # None unless OTEL_* asks
    early = open_early(executor)  # a wrong Celery app or its broker down: one line, nothing touched
    if journal is not None:  # opened once every argument is known to be good
        listed = [key for key in planned if key.tenant is not None]
        header = header_for(
            fleet.tenants, listed, options=run_options(selection, policy, executor), **journal.meta
        )
        try:
            report.journal = Journal(journal.folder, header, exit_code_follows=journal.exit_code_follows)
        except BaseException:
            if early is not None:
                early.close()
            raise
        report.add_listener(report.journal.record)
    report.emit(RunStarted(len(planned), tuple(s.key for s in fleet.specs)))
    runner: Executor | None = None
    creations = None
    if policy.create_missing:
        templates = Templates(assistants, prefix) if prefix is not None else None
        creations = Creations(assistants, report, templates)
    aborted: TenantRouterError | None = None
    capture = OutputCapture(report.emit).start()  # what migrations and libraries write: events
    try:
        if policy.only_missing:  # `create` (and a signup view) makes tenant databases, nothing else
            phases.leave_reserved(report, planned)
        elif not target:  # a rollback is for the selected tenants; shared databases stay as they are
            phases.migrate_reserved_and_coarse(fleet.specs, assistants, report)
        report_unconfigured(report, unconfigured)  # in the order the run used to find them
        databases = [key for key in found if redo is None or key in redo]
        if databases and not report.stopping:
            fleet.prepare()  # workers fork with the graphs already loaded
            runner = make_executor(executor, assistants, report, setup, early)
            verdicts = phases.preflight(databases, assistants, runner, settle=True)
            phases.refuse_irreversible(verdicts)
            pending = [
                k for k in databases if k.orm not in verdicts or phases.needs_work(verdicts[k.orm].get(k))
            ]
            created = phases.settle_missing(verdicts, report, creations)
            if creations is not None:
                pending, files = phases.create_new_files(pending, creations)
                created += files
            if policy.only_missing:
                assert creations is not None
                pending = phases.leave_existing(pending, created, creations)
            pending += created
            del verdicts  # one per database: not kept while the pending ones migrate
            if policy.refuse_drift:
                local = runner if executor.name == "processes" else None  # Celery replies carry no schemas
                pending = phases.refuse_drifted(fleet.config, assistants, local, report, pending)
            canaries = phases.pick_canaries(fleet.tenants, pending, report)[: policy.canary]
            phases.migrate_in_waves(assistants, runner, report, pending, canaries, requeue)
    except KeyboardInterrupt:
        report.interrupted = True
        report.stop("interrupted")
    except (ExecutorError, ScratchDatabaseError) as exc:  # the report keeps what finished; the rest
        # is marked not started (reserved databases may have been migrated: not "nothing touched")
        aborted = exc
        report.stop("aborted: the run could not go on (its error says why)")  # said once, not per database
    finally:
        if runner is not None:
            runner.close()
        elif early is not None:
            early.close()
        assistants.close()
        if cancel.stop_requested():
            report.interrupted = True
            report.stop("interrupted")
        requeue.give_up(report)
        if creations is not None:
            creations.drop_incomplete()
        phases.mark_not_started(report, planned)
        report.seconds = time.monotonic() - report.started
        capture.stop()
        if report.journal is not None:
            report.journal.close(report)
        telemetry.close(traced, report, aborted is not None)
    if report.interrupted:
        raise RunInterrupted(report)
    if aborted is not None:
        raise RunAborted(aborted, report) from aborted
    return report
