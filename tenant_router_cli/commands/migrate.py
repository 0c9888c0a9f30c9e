"""`tenant-router migrate`: apply pending migrations to every tenant database (or plan, check, roll back)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from tenant_router import (
    SETTLED,
    ExecutorSpec,
    FleetStatus,
    JournalSpec,
    LockPolicy,
    MigrationEvent,
    MigrationReport,
    RouterConfig,
    RunAborted,
    RunInterrupted,
    RunMetrics,
    RunPolicy,
    Selection,
    Status,
    UsageError,
    fleet_status,
    journal_dir,
    migrate_tenants,
    unfinished,
)

from ..bootstrap import bootstrap
from ..exit_codes import EXIT_CODES_HELP, ExitCode
from ..options import (
    DEFAULT_WORKER_MAX_RSS,
    DEFAULT_WORKER_TASKS,
    Canary,
    CeleryApp,
    Check,
    CreateMissing,
    Exclude,
    Executor,
    FailFast,
    Jobs,
    Journal,
    Json,
    LockRetries,
    LockRetryDelay,
    LockTimeout,
    LockWait,
    MaxFailures,
    MaxPerHost,
    MetricsFile,
    MetricsInterval,
    Migration,
    NoJournal,
    NoProgress,
    NoTemplate,
    OnlyFailed,
    Orm,
    Plan,
    PythonPath,
    Queue,
    Quiet,
    RefuseDrift,
    Settings,
    Shard,
    StatementTimeout,
    Target,
    Tenant,
    Traceback,
    Verbose,
    WorkerMaxRss,
    WorkerTasks,
    selection_of,
)
from ..output import Output, make_output
from ..progress import progress_view
from ..render import exit_on_error, render_plan, render_report
from ..signals import graceful_interrupts

DEFAULT_METRICS_INTERVAL = 10.0


def migrate(
    migration: Migration = None,
    settings: Settings = None,
    pythonpath: PythonPath = None,
    orm: Orm = None,
    tenant: Tenant = None,
    exclude: Exclude = None,
    shard: Shard = None,
    target: Target = None,
    plan: Plan = False,
    check: Check = False,
    canary: Canary = 0,
    fail_fast: FailFast = False,
    max_failures: MaxFailures = None,
    only_failed: OnlyFailed = None,
    jobs: Jobs = 0,
    executor: Executor = "processes",
    celery_app: CeleryApp = None,
    queue: Queue = None,
    max_connections_per_host: MaxPerHost = None,
    lock_timeout: LockTimeout = 0.0,
    lock_wait: LockWait = None,
    lock_retries: LockRetries = None,
    lock_retry_delay: LockRetryDelay = None,
    statement_timeout: StatementTimeout = None,
    journal: Journal = None,
    no_journal: NoJournal = False,
    metrics_file: MetricsFile = None,
    metrics_interval: MetricsInterval = DEFAULT_METRICS_INTERVAL,
    worker_tasks: WorkerTasks = DEFAULT_WORKER_TASKS,
    worker_max_rss: WorkerMaxRss = DEFAULT_WORKER_MAX_RSS,
    refuse_drift: RefuseDrift = False,
    create_missing: CreateMissing = False,
    no_template: NoTemplate = False,
    json_output: Json = False,
    no_progress: NoProgress = False,
    show_traceback: Traceback = False,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Apply pending migrations to every tenant database, ORM by ORM."""
    output = make_output(progress=not (no_progress or json_output or plan or check))
    verbosity = 0 if quiet else 1 + verbose
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        _reject_clashes(plan=plan, check=check, quiet=quiet, verbose=verbose)
        if metrics_file is not None and (plan or check):
            raise UsageError("--metrics-file is written by a run; --plan and --check do not run.")
        if migration is not None and target is None:
            raise UsageError(
                f"Unexpected argument {migration!r}: a migration name goes after --target APP_LABEL."
            )
        targets = tuple(t for t in (target, migration) if t is not None)
        locks = LockPolicy(lock_timeout, lock_wait, lock_retries, lock_retry_delay, statement_timeout)
        policy = RunPolicy(
            fail_fast,
            max_failures,
            canary,
            targets,
            refuse_drift,
            locks,
            create_missing=create_missing,
            template=not no_template,
        )
        runner = ExecutorSpec(
            executor, jobs, max_connections_per_host, worker_tasks, worker_max_rss, celery_app, queue
        )
        runner.check()  # every option is checked in every mode: --plan and --check take them too
        policy.check(runner.max_per_host)
        config = bootstrap(settings, pythonpath or ())
        selection = selection_of(orm, tenant, exclude, shard)
        folder = journal_dir(journal)
        if only_failed:  # --plan/--check too: what a re-run would do is what they answer
            left = unfinished(folder, None if only_failed == "last" else only_failed)
            if not quiet:
                output.error(left.describe())  # which run(s) were read, and what they left
            selection = Selection.from_unfinished(left, selection)
        if plan or check:
            reader = ExecutorSpec(executor, jobs, celery_app=celery_app, queue=queue)
            found = fleet_status(config, selection, target=targets, executor=reader)
            render_plan(output, found, json_output=json_output, check=check)
            raise typer.Exit(_plan_exit(found, check))
        written = None if no_journal else JournalSpec(folder, {"argv": sys.argv[1:]}, exit_code_follows=True)
        metrics = None if metrics_file is None else RunMetrics(Path(metrics_file), metrics_interval)
    run_and_render(
        Run(output, config, selection, policy, runner, written, metrics),
        json_output,
        verbosity,
        show_traceback,
    )


@dataclass(frozen=True)
class Run:
    """What `migrate` and `create` hand to run_and_render."""

    output: Output
    config: RouterConfig
    selection: Selection
    policy: RunPolicy
    executor: ExecutorSpec
    journal: JournalSpec | None
    metrics: RunMetrics | None = None  # --metrics-file


def run_and_render(run: Run, json_output: bool, verbosity: int, show_traceback: bool) -> None:
    """Carry the run out with a progress view, render its report, exit with its code; the journal and
    the metrics file get that code too."""
    reports: list[MigrationReport] = []
    code: int = ExitCode.INTERNAL  # a bug
    if run.metrics is not None:
        run.metrics.start()
    try:
        _run_and_render(run, reports, json_output, verbosity, show_traceback)
    except typer.Exit as exc:
        code = exc.exit_code
        raise
    except (KeyboardInterrupt, SystemExit) as exc:  # a signal while the report was being shown
        code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else ExitCode.INTERRUPTED
        raise
    finally:
        for report in reports:
            if report.journal is not None:
                report.journal.note_exit(code)
        problem = run.metrics.finish(code) if run.metrics is not None else None
        if problem is not None:
            run.output.error(f"warning: --metrics-file could not be written: {problem}")


def _run_and_render(
    run: Run, reports: list[MigrationReport], json_output: bool, verbosity: int, show_traceback: bool
) -> None:
    output = run.output
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        try:
            with (
                progress_view(output, json_output=json_output, verbosity=verbosity) as view,
                graceful_interrupts(output, view),
            ):
                report = migrate_tenants(
                    run.config,
                    run.selection,
                    run.policy,
                    executor=run.executor,
                    journal=run.journal,
                    on_event=view if run.metrics is None else _both(run.metrics, view),
                )
            code = _exit_for(report)
        except RunInterrupted as exc:
            report, code = exc.report, ExitCode.INTERRUPTED
        except RunAborted as exc:  # the executor gave up: what finished is shown, then why it stopped
            reports.append(exc.report)
            render_report(output, exc.report, json_output=json_output, show_traceback=show_traceback)
            raise
    reports.append(report)
    render_report(output, report, json_output=json_output, show_traceback=show_traceback)
    if report.journal is not None and not json_output and verbosity:
        hint = (
            f" (re-run what did not finish: --only-failed {report.journal.run_id})" if not report.ok else ""
        )
        output.error(f"journal: {report.journal.path}{hint}")
    raise typer.Exit(code)


def _both(first: RunMetrics, then: Callable[[MigrationEvent], None]) -> Callable[[MigrationEvent], None]:
    def on_event(event: MigrationEvent) -> None:
        first(event)
        then(event)

    return on_event


migrate.__doc__ = f"Apply pending migrations to every tenant database, ORM by ORM.\n\n{EXIT_CODES_HELP}"


def _reject_clashes(*, plan: bool, check: bool, quiet: bool, verbose: int) -> None:
    """Options that contradict each other are a usage error, not a silent choice."""
    if plan and check:
        raise UsageError(
            "--plan and --check cannot be used together.",
            hint="--plan shows what would run; --check only answers (exit 4 when anything is pending).",
        )
    if quiet and verbose:
        raise UsageError("--quiet and --verbose cannot be used together.")


def _exit_for(report: MigrationReport) -> ExitCode:
    """0 all settled; 1 anything failed or was not done; else 6 when some drifted, 5 when only locked,
    8 when only missing."""
    if report.ok:
        return ExitCode.OK
    unsettled = {r.status for r in report.rows() if r.status not in SETTLED}
    if unsettled == {Status.MISSING}:
        return ExitCode.MISSING
    if unsettled <= {Status.DRIFTED, Status.LOCKED}:
        return ExitCode.DRIFT if Status.DRIFTED in unsettled else ExitCode.LOCKED
    return ExitCode.FAILED


def _plan_exit(status: FleetStatus, check: bool) -> ExitCode:
    if check and status.pending:
        return ExitCode.PENDING
    if check and status.unreachable:
        return ExitCode.FAILED
    return ExitCode.MISSING if check and status.missing else ExitCode.OK
