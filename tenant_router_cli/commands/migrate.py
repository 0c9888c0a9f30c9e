"""`tenant-router migrate`: apply pending migrations to every tenant database."""

from __future__ import annotations

from typing import Annotated

import typer

from tenant_router.engine import RunInterrupted, migrate_tenants
from tenant_router.errors import TenantRouterError
from tenant_router.workers import DEFAULT_MAX_RSS_MB, DEFAULT_TASKS_PER_WORKER

from ..bootstrap import bootstrap
from ..exit_codes import EXIT_CODES_HELP, ExitCode, exit_code_for
from ..options import Json, PythonPath, Settings, Traceback
from ..output import make_output
from ..progress import progress_view
from ..render import render_error, render_json_error, render_report


def migrate(
    settings: Settings = None,
    pythonpath: PythonPath = None,
    orm: Annotated[
        list[str] | None, typer.Option("--orm", metavar="KEY", help="Only this ORM key (repeatable).")
    ] = None,
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", metavar="ID", help="Only this tenant id (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="ID", help="Leave out this tenant id (repeatable)."),
    ] = None,
    fail_fast: Annotated[
        bool,
        typer.Option("--fail-fast", help="Stop at the first failure; the rest are reported not started."),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", metavar="N", help="Worker processes (0: one per CPU; 1: in this process)."
        ),
    ] = 0,
    max_connections_per_host: Annotated[
        int | None,
        typer.Option(
            "--max-connections-per-host", metavar="N", help="At most N databases of one server at once."
        ),
    ] = None,
    worker_tasks: Annotated[
        int,
        typer.Option(
            "--worker-tasks", metavar="N", help="Replace a worker after N tasks (memory stays flat)."
        ),
    ] = DEFAULT_TASKS_PER_WORKER,
    worker_max_rss: Annotated[
        float,
        typer.Option("--worker-max-rss", metavar="MB", help="Replace a worker above this resident memory."),
    ] = DEFAULT_MAX_RSS_MB,
    json_output: Json = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No live table, even on a terminal.")
    ] = False,
    show_traceback: Traceback = False,
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True, help="More lines (-v: every migration applied)."),
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only failures and the summary.")] = False,
) -> None:
    """Apply pending migrations to every tenant database, ORM by ORM."""
    output = make_output(progress=not (no_progress or json_output))
    verbosity = 0 if quiet else 1 + verbose
    try:
        config = bootstrap(settings, pythonpath or ())
        with progress_view(output, json_output=json_output, verbosity=verbosity) as on_event:
            report = migrate_tenants(
                config, orm=orm or (), tenant=tenant or (), exclude=exclude or (), fail_fast=fail_fast,
                jobs=jobs, max_connections_per_host=max_connections_per_host,
                worker_tasks=worker_tasks, worker_max_rss_mb=worker_max_rss, on_event=on_event,
            )  # fmt: skip
        code = ExitCode.OK if report.ok else ExitCode.FAILED
    except RunInterrupted as exc:
        report, code = exc.report, ExitCode.INTERRUPTED
    except TenantRouterError as exc:  # configuration and usage problems: nothing was touched
        code = exit_code_for(exc)
        render_error(output, exc, show_traceback=show_traceback)
        if json_output:
            render_json_error(output, exc, code)
        raise typer.Exit(code) from None
    render_report(output, report, json_output=json_output, show_traceback=show_traceback)
    raise typer.Exit(code)


migrate.__doc__ = f"Apply pending migrations to every tenant database, ORM by ORM.\n\n{EXIT_CODES_HELP}"
