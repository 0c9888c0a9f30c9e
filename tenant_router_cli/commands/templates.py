"""`tenant-router templates`: the template databases new tenants are copied from, current or stale."""

from __future__ import annotations

from typing import Annotated

import typer

from tenant_router import list_templates

from ..bootstrap import bootstrap
from ..exit_codes import ExitCode
from ..options import Exclude, Json, Orm, PythonPath, Settings, Tenant, Traceback, selection_of
from ..output import make_output
from ..render import exit_on_error, json_line

Prune = Annotated[bool, typer.Option("--prune", help="Drop the stale templates (never one being built).")]


def templates(
    settings: Settings = None,
    pythonpath: PythonPath = None,
    orm: Orm = None,
    tenant: Tenant = None,
    exclude: Exclude = None,
    prune: Prune = False,
    json_output: Json = False,
    show_traceback: Traceback = False,
) -> None:
    """List the template databases on the selected tenants' servers (built when, size, how many tenant
    databases were copied from each, current or stale); --prune drops the stale ones.

    Exit codes: 0 listed (and pruned); 1 a server could not be read (the others are listed); 2 usage
    error; 3 configuration error.
    """
    output = make_output(progress=False)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        config = bootstrap(settings, pythonpath or ())
        found = list_templates(config, selection_of(orm, tenant, exclude, None), prune=prune)
    if json_output:
        output.raw(json_line({"event": "templates", **found.to_dict()}))
    elif not found.rows and not found.unreadable:
        output.line("No template databases (they are built by `create` and `migrate --create-missing`).")
    for row in [] if json_output else found.rows:
        size = f"{row.size / 2**20:.1f} MiB" if row.size is not None else "-"
        gone = ", dropped" if row.dropped else ""
        output.line(
            f"{row.server}  {row.name}  {row.state}{gone}  built {row.built or '-'}  {size}  "
            f"{row.made} tenant database(s) made from it"
        )
    for line in found.unreadable:
        output.error(f"error: cannot read the templates of {line}")
    raise typer.Exit(ExitCode.FAILED if found.unreadable else ExitCode.OK)
