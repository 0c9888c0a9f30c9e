"""`tenant-router migrate`: apply pending migrations to every tenant database (or plan, check, roll back)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tenant_router.errors import UsageError
from tenant_router.executors import DEFAULT_MAX_RSS_MB, DEFAULT_TASKS_PER_WORKER
from tenant_router.record.events import Status
from tenant_router.record.journal import find_run, journal_dir
from tenant_router.record.report import SETTLED, MigrationReport
from tenant_router.run.engine import RunAborted, RunInterrupted, migrate_tenants
from tenant_router.run.fleet import FleetStatus, fleet_status

from ..bootstrap import bootstrap
from ..exit_codes import EXIT_CODES_HELP, ExitCode
from ..options import (
    CeleryApp,
    Exclude,
    Executor,
    Jobs,
    Json,
    Orm,
    PythonPath,
    Queue,
    Settings,
    Shard,
    Tenant,
    Traceback,
)
from ..output import make_output
from ..progress import progress_view
from ..render import exit_on_error, render_plan, render_report
from ..signals import graceful_interrupts

Opt = typer.Option


def migrate(
    migration: Annotated[
        str | None,
        typer.Argument(
            metavar="MIGRATION",
            show_default=False,
            help="With --target APP_LABEL: the migration name (or zero).",
        ),
    ] = None,
    settings: Settings = None,
    pythonpath: PythonPath = None,
    orm: Orm = None,
    tenant: Tenant = None,
    exclude: Exclude = None,
    shard: Shard = None,
    target: Annotated[
        str | None,
        Opt(
            "--target",
            metavar="APP_LABEL|REV",
            help="Roll forward or back to this migration: --target APP_LABEL MIGRATION (Django) or --target REV (Alembic); needs --orm.",
        ),
    ] = None,
    plan: Annotated[
        bool, Opt("--plan", help="Show what would run, per group of databases; touch nothing.")
    ] = False,
    check: Annotated[
        bool, Opt("--check", help="Exit 4 when anything is pending, else 0; touch nothing.")
    ] = False,
    canary: Annotated[
        int, Opt("--canary", metavar="K", help="Migrate K tenants first; stop if any of them fails.")
    ] = 0,
    fail_fast: Annotated[
        bool, Opt("--fail-fast", help="Stop at the first failure; the rest are reported not started.")
    ] = False,
    max_failures: Annotated[
        int | None, Opt("--max-failures", metavar="N", help="Start no new tenant after N failures.")
    ] = None,
    only_failed: Annotated[
        str | None,
        Opt(
            "--only-failed",
            metavar="[RUN_ID]",
            help="Only the tenants that failed or never finished in the last (or given) run.",
        ),
    ] = None,
    jobs: Jobs = 0,
    executor: Executor = "processes",
    celery_app: CeleryApp = None,
    queue: Queue = None,
    max_connections_per_host: Annotated[
        int | None,
        Opt("--max-connections-per-host", metavar="N", help="At most N databases of one server at once."),
    ] = None,
    lock_timeout: Annotated[
        float,
        Opt(
            "--lock-timeout",
            metavar="SECONDS",
            help="Wait this long for a database another run is migrating.",
        ),
    ] = 0.0,
    lock_wait: Annotated[
        float | None,
        Opt(
            "--lock-wait",
            metavar="SECONDS",
            help="A migration step waits at most this long for a table lock, then its database is retried later (lock-safe on live tenants).",
        ),
    ] = None,
    lock_retries: Annotated[
        int | None,
        Opt(
            "--lock-retries",
            metavar="N",
            help="With --lock-wait: retry a busy database N times (default 3), then report it busy.",
        ),
    ] = None,
    lock_retry_delay: Annotated[
        float | None,
        Opt(
            "--lock-retry-delay",
            metavar="SECONDS",
            help="With --lock-wait: the first retry's back-off (default 5), doubled for each next one.",
        ),
    ] = None,
    statement_timeout: Annotated[
        float | None,
        Opt(
            "--statement-timeout",
            metavar="SECONDS",
            help="A migration statement that runs longer fails its database (not retried).",
        ),
    ] = None,
    journal: Annotated[
        str | None,
        Opt(
            "--journal",
            metavar="DIR",
            help="Journal folder (default TENANT_ROUTER_JOURNAL_DIR, else BASE_DIR/.tenant-router/journal).",
        ),
    ] = None,
    no_journal: Annotated[bool, Opt("--no-journal", help="Write no journal.")] = False,
    worker_tasks: Annotated[
        int, Opt("--worker-tasks", metavar="N", help="Replace a worker after N tasks (memory stays flat).")
    ] = DEFAULT_TASKS_PER_WORKER,
    worker_max_rss: Annotated[
        float, Opt("--worker-max-rss", metavar="MB", help="Replace a worker above this resident memory.")
    ] = DEFAULT_MAX_RSS_MB,
    refuse_drift: Annotated[
        bool,
        Opt(
            "--refuse-drift",
            help="Check pending databases for schema drift first; leave drifted ones alone (exit 6).",
        ),
    ] = False,
    json_output: Json = False,
    no_progress: Annotated[bool, Opt("--no-progress", help="No live table, even on a terminal.")] = False,
    show_traceback: Traceback = False,
    verbose: Annotated[
        int,
        Opt(
            "--verbose",
            "-v",
            count=True,
            show_default=False,
            help="More lines (-v: every migration applied).",
        ),
    ] = 0,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="Only failures and the summary.")] = False,
) -> None:
    """Apply pending migrations to every tenant database, ORM by ORM."""
    output = make_output(progress=not (no_progress or json_output or plan or check))
    verbosity = 0 if quiet else 1 + verbose
    targets = tuple(t for t in (target, migration) if t is not None)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        try:
            _reject_clashes(plan=plan, check=check, quiet=quiet, verbose=verbose)
            config = bootstrap(settings, pythonpath or ())
            if migration is not None and target is None:
                raise UsageError(
                    f"Unexpected argument {migration!r}: a migration name goes after --target APP_LABEL."
                )
            if plan or check:
                status = fleet_status(config, orm=orm or (), tenant=tenant or (), exclude=exclude or (), shard=shard, target=targets, jobs=jobs, executor=executor, celery_app=celery_app, queue=queue)  # fmt: skip
                render_plan(output, status, json_output=json_output, check=check)
                raise typer.Exit(_plan_exit(status, check))
            folder = journal_dir(journal)
            last = find_run(folder, None if only_failed == "last" else only_failed) if only_failed else None
            only = last.tenants_to_redo() if last else None
            only_databases = last.databases_to_redo() if last else None
            with (
                progress_view(output, json_output=json_output, verbosity=verbosity) as on_event,
                graceful_interrupts(output, on_event),
            ):
                report = migrate_tenants(
                    config, orm=orm or (), tenant=tenant or (), exclude=exclude or (), shard=shard, only=only,
                    only_databases=only_databases,
                    canary=canary, fail_fast=fail_fast, max_failures=max_failures, target=targets, jobs=jobs,
                    max_connections_per_host=max_connections_per_host, lock_timeout=lock_timeout,
                    lock_wait=lock_wait, lock_retries=lock_retries, lock_retry_delay=lock_retry_delay,
                    statement_timeout=statement_timeout,
                    worker_tasks=worker_tasks, worker_max_rss_mb=worker_max_rss,
                    executor=executor, celery_app=celery_app, queue=queue,
                    journal_dir=None if no_journal else folder, journal_meta={"argv": sys.argv[1:]},
                    refuse_drift=refuse_drift,
                    on_event=on_event,
                )  # fmt: skip
            code = _exit_for(report)
        except RunInterrupted as exc:
            report, code = exc.report, ExitCode.INTERRUPTED
        except RunAborted as exc:  # the executor gave up: what finished is shown, then why it stopped
            render_report(output, exc.report, json_output=json_output, show_traceback=show_traceback)
            raise
    render_report(output, report, json_output=json_output, show_traceback=show_traceback)
    if report.journal is not None and not json_output and verbosity:
        hint = (
            f" (re-run what did not finish: --only-failed {report.journal.run_id})" if not report.ok else ""
        )
        output.error(f"journal: {report.journal.path}{hint}")
    raise typer.Exit(code)


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
    """0 all settled; 1 anything failed or was not done; else 6 when some drifted, 5 when only locked."""
    if report.ok:
        return ExitCode.OK
    unsettled = {r.status for r in report.rows() if r.status not in SETTLED}
    if unsettled <= {Status.DRIFTED, Status.LOCKED}:
        return ExitCode.DRIFT if Status.DRIFTED in unsettled else ExitCode.LOCKED
    return ExitCode.FAILED


def _plan_exit(status: FleetStatus, check: bool) -> ExitCode:
    if check and status.pending:
        return ExitCode.PENDING
    return ExitCode.FAILED if check and status.unreachable else ExitCode.OK
