"""`tenant-router status`: the fleet grouped per ORM, read from the bookkeeping tables."""

from __future__ import annotations

import typer

from tenant_router import ExecutorSpec, fleet_status

from ..bootstrap import bootstrap
from ..exit_codes import ExitCode
from ..options import (
    CeleryApp,
    Exclude,
    Executor,
    Jobs,
    Json,
    ListTenants,
    Orm,
    PythonPath,
    Queue,
    Settings,
    Shard,
    Tenant,
    Traceback,
    selection_of,
)
from ..output import make_output
from ..render import exit_on_error, render_status


def status(
    settings: Settings = None,
    pythonpath: PythonPath = None,
    orm: Orm = None,
    tenant: Tenant = None,
    exclude: Exclude = None,
    shard: Shard = None,
    tenants: ListTenants = False,
    jobs: Jobs = 0,
    executor: Executor = "processes",
    celery_app: CeleryApp = None,
    queue: Queue = None,
    json_output: Json = False,
    show_traceback: Traceback = False,
) -> None:
    """Show every ORM's databases: at head, pending (and what), unreachable; nothing is migrated.

    Exit codes: 0 every database could be read (pending or not); 1 when a database is unreachable
    (or refused the login); 2 usage error; 3 configuration error; 7 executor unavailable; 8 when the
    only databases not read do not exist.
    """
    output = make_output(progress=False)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        config = bootstrap(settings, pythonpath or ())
        selection = selection_of(orm, tenant, exclude, shard)
        reader = ExecutorSpec(executor, jobs, celery_app=celery_app, queue=queue)
        found = fleet_status(config, selection, executor=reader)
    render_status(output, found, json_output=json_output, tenants=tenants)
    code = ExitCode.MISSING if found.missing else ExitCode.OK
    raise typer.Exit(ExitCode.FAILED if found.unreachable else code)
