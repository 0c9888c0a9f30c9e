"""`tenant-router drift`: every database's real schema against the one its applied migrations promise."""

from __future__ import annotations

from typing import Annotated

import typer

from tenant_router import ExecutorSpec, detect_drift

from ..bootstrap import bootstrap
from ..exit_codes import ExitCode
from ..options import (
    Exclude,
    Jobs,
    Json,
    ListTenants,
    Orm,
    PythonPath,
    Settings,
    Shard,
    Tenant,
    Traceback,
    selection_of,
)
from ..output import make_output
from ..render import exit_on_error
from ..render_drift import render_drift
from ..signals import interrupts_end


def drift(
    settings: Settings = None,
    pythonpath: PythonPath = None,
    orm: Orm = None,
    tenant: Tenant = None,
    exclude: Exclude = None,
    shard: Shard = None,
    tenants: ListTenants = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Tables outside the migrations are drift too (else notes).")
    ] = False,
    jobs: Jobs = 0,
    json_output: Json = False,
    show_traceback: Traceback = False,
) -> None:
    """Compare every database's real schema with the one its applied migrations promise; touch nothing.

    Exit codes: 0 every database checked, none drifted; 6 at least one drifted; 1 none drifted but one
    could not be checked (unreachable, or an unknown state); 2 usage error; 3 configuration error
    (including: no right to create the scratch database); 130 interrupted (Ctrl-C, SIGTERM).
    """
    output = make_output(progress=False)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        config = bootstrap(settings, pythonpath or ())
        selection = selection_of(orm, tenant, exclude, shard)
        with interrupts_end(output, "drift stopped; it changes no tenant database"):
            found = detect_drift(config, selection, strict=strict, executor=ExecutorSpec(jobs=jobs))
    render_drift(output, found, json_output=json_output, tenants=tenants)
    raise typer.Exit(ExitCode.DRIFT if found.drifted else ExitCode.FAILED if found.unchecked else ExitCode.OK)
