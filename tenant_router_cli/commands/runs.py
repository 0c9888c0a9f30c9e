"""`tenant-router runs`: past runs from the journal, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from tenant_router import journal_dir
from tenant_router import runs as journal_runs

from ..bootstrap import setup_django
from ..exit_codes import ExitCode
from ..options import Json, PythonPath, Settings, Traceback
from ..output import make_output
from ..render import exit_on_error, json_line


def runs(
    settings: Settings = None,
    pythonpath: PythonPath = None,
    journal: Annotated[str | None, typer.Option("--journal", metavar="DIR", help="Journal folder.")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="At most N runs.")] = 20,
    json_output: Json = False,
    show_traceback: Traceback = False,
) -> None:
    """List past runs: when, how long, what happened, and how many tenants --only-failed would redo."""
    output = make_output(progress=False)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        setup_django(settings, pythonpath or ())
        folder = journal_dir(journal)
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
