"""`tenant-router runs`: past runs from the journal, newest first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tenant_router import Timeline, UsageError, follow_run_page, journal_dir, journal_file, write_run_page
from tenant_router import runs as journal_runs

from ..bootstrap import setup_django
from ..exit_codes import ExitCode
from ..options import Json, PythonPath, Settings, Traceback
from ..output import Output, make_output
from ..render import exit_on_error, json_line


def runs(
    settings: Settings = None,
    pythonpath: PythonPath = None,
    journal: Annotated[str | None, typer.Option("--journal", metavar="DIR", help="Journal folder.")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="At most N runs.")] = 20,
    json_output: Json = False,
    show_traceback: Traceback = False,
    run_id: Annotated[str | None, typer.Option("--run", metavar="RUN", help="With --html: this run (id, unique prefix or 'last').")] = None,
    html: Annotated[str | None, typer.Option("--html", metavar="FILE", help="Write a picture of one run (a self-contained HTML page).")] = None,
    refresh: Annotated[int | None, typer.Option("--refresh", metavar="N", min=1, help="With --html: while the run goes, rewrite the page (which reloads itself) every N s.")] = None,
) -> None:  # fmt: skip
    """List past runs: when, how long, what happened, what --only-failed would redo; --html draws one run."""
    output = make_output(progress=False)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        if html is None and (run_id is not None or refresh is not None):
            raise UsageError(f"{'--run' if run_id is not None else '--refresh'} goes with --html FILE.")
        setup_django(settings, pythonpath or ())
        folder = journal_dir(journal)
        if html is not None:
            run_page(output, journal_file(folder, run_id), html, refresh, json_output=json_output)
            raise typer.Exit(ExitCode.OK)
        found = [run.summary() for _, run in zip(range(limit), journal_runs(folder), strict=False)]
    if json_output:
        output.raw(json_line({"event": "runs", "journal": str(folder), "runs": found}))
    elif not found:
        output.line(f"No runs recorded in {folder}.")
    for run in [] if json_output else found:
        counts = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(run["counts"].items()))
        state = "interrupted" if run["interrupted"] else f"{run['seconds']}s"
        redo = f"; --only-failed would redo {run['to_redo']} tenant(s)" if run["to_redo"] else ""
        output.line(f"{run['run']}  {run['started']}  {state}  {counts or 'nothing recorded'}{redo}")
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
