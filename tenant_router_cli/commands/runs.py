"""`tenant-router runs`: past runs from the journal, newest first; `runs show RUN`: one run in full."""

from __future__ import annotations

from typing import Annotated

import typer

from tenant_router import find_one_run, journal_dir, newest_runs, run_details, run_summary

from ..bootstrap import setup_django
from ..exit_codes import ExitCode
from ..options import Json, PythonPath, Settings, Traceback
from ..output import make_output
from ..render import exit_on_error, json_line
from ..render_runs import run_lines, run_row

JournalDir = Annotated[str | None, typer.Option("--journal", metavar="DIR", help="Journal folder.")]

runs = typer.Typer(
    name="runs",
    help="Past runs from the journal, newest first; `runs show RUN` for one run.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)


@runs.callback()
def list_runs(
    ctx: typer.Context,
    settings: Settings = None,
    pythonpath: PythonPath = None,
    journal: JournalDir = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="At most N runs.")] = 20,
    json_output: Json = False,
    show_traceback: Traceback = False,
) -> None:
    """List past runs: when, on which host, with which options, what happened, how long, the exit code,
    and how many tenants --only-failed would redo. `runs show RUN` shows one run in full."""
    if ctx.invoked_subcommand is not None:
        return
    output = make_output(progress=False)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        setup_django(settings, pythonpath or ())
        folder = journal_dir(journal)
        found = [run_summary(run) for run in newest_runs(folder, limit)]
    if json_output:
        output.raw(json_line({"event": "runs", "journal": str(folder), "runs": found}))
    elif not found:
        output.line(f"No runs recorded in {folder}.")
    for run in [] if json_output else found:
        output.line(run_row(run))
    raise typer.Exit(ExitCode.OK)


@runs.command("show")
def show_run(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A run id, a unique prefix of one, or `last`.")],
    settings: Settings = None,
    pythonpath: PythonPath = None,
    journal: JournalDir = None,
    steps: Annotated[bool, typer.Option("--steps", help="Every migration step with its time.")] = False,
    json_output: Json = False,
    show_traceback: Traceback = False,
) -> None:
    """One run: where and how it ran, each database's outcome, steps and timings (--json: one JSON
    document on one line). A run that was killed shows only what its journal holds."""
    output = make_output(progress=False)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        setup_django(settings, pythonpath or ())
        details = run_details(find_one_run(journal_dir(journal), run))
    if json_output:
        output.raw(json_line({"event": "run", **details}))
    else:
        for line in run_lines(details, steps=steps):
            output.line(line)
    raise typer.Exit(ExitCode.OK)
