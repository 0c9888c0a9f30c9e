"""`tenant-router runs`: past runs from the journal, newest first; `runs show RUN`: one run in full."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tenant_router import (
    Timeline,
    UsageError,
    find_one_run,
    follow_run_page,
    journal_dir,
    newest_runs,
    run_details,
    run_summary,
    write_run_page,
)

from ..bootstrap import setup_django
from ..exit_codes import ExitCode
from ..options import Json, PythonPath, Settings, Traceback
from ..output import Output, make_output
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
    html: Annotated[str | None, typer.Option("--html", metavar="FILE", help="Write a picture of the run (a self-contained HTML page).")] = None,
    refresh: Annotated[int | None, typer.Option("--refresh", metavar="N", min=1, help="With --html: while the run goes, rewrite the page (which reloads itself) every N s.")] = None,
    json_output: Json = False,
    show_traceback: Traceback = False,
) -> None:  # fmt: skip
    """One run: where and how it ran, each database's outcome, steps and timings (--json: one JSON
    document on one line). A run that was killed shows only what its journal holds. --html FILE: a
    picture of the run (a timeline per worker), refreshed while it runs with --refresh N."""
    output = make_output(progress=False)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        if html is None and refresh is not None:
            raise UsageError("--refresh goes with --html FILE.")
        setup_django(settings, pythonpath or ())
        found = find_one_run(journal_dir(journal), run)
        if html is not None:
            run_page(output, found.path, html, refresh, json_output=json_output)
            raise typer.Exit(ExitCode.OK)
        details = run_details(found)
    if json_output:
        output.raw(json_line({"event": "run", **details}))
    else:
        for line in run_lines(details, steps=steps):
            output.line(line)
    raise typer.Exit(ExitCode.OK)


def run_page(output: Output, path: Path, page: str, refresh: int | None, *, json_output: bool) -> None:
    """`--html`: write the page of the run in `path` (again every `refresh` s while it runs), say so."""

    def said(timeline: Timeline) -> None:
        if json_output:
            line = {"event": "run_page", "page": page, "run": timeline.run, "state": timeline.state}
            output.raw(json_line({**line, "databases": len(timeline.databases)}))
            return
        settled = sum(n for outcome, n in timeline.counts.items() if outcome != "no outcome")
        output.line(
            f"{page}: run {timeline.run}, {timeline.state}, {settled}/{len(timeline.databases)} settled"
        )

    if refresh:
        follow_run_page(path, page, refresh, said)
    else:
        said(write_run_page(path, page))
