"""`tenant-router create`: create the selected tenant databases that do not exist and bring them to head."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tenant_router import ExecutorSpec, JournalSpec, LockPolicy, RunPolicy, UsageError, journal_dir

from ..bootstrap import bootstrap
from ..exit_codes import EXIT_CODES_HELP
from ..options import (
    Exclude,
    Jobs,
    Journal,
    Json,
    LockTimeout,
    NoJournal,
    NoProgress,
    NoTemplate,
    Orm,
    PythonPath,
    Quiet,
    Settings,
    Tenant,
    Traceback,
    Verbose,
    selection_of,
)
from ..output import make_output
from ..render import exit_on_error
from .migrate import Run, run_and_render

Tenants = Annotated[
    list[str] | None,
    typer.Argument(metavar="[TENANT]...", show_default=False, help="Tenant ids (or globs, @FILE lists)."),
]


def create(
    tenants: Tenants = None,
    settings: Settings = None,
    pythonpath: PythonPath = None,
    orm: Orm = None,
    tenant: Tenant = None,
    exclude: Exclude = None,
    jobs: Jobs = 0,
    lock_timeout: LockTimeout = 0.0,
    journal: Journal = None,
    no_journal: NoJournal = False,
    no_template: NoTemplate = False,
    json_output: Json = False,
    no_progress: NoProgress = False,
    show_traceback: Traceback = False,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Create the selected tenant databases that do not exist and bring them to head; every database
    that exists is left as it is."""
    output = make_output(progress=not (no_progress or json_output))
    verbosity = 0 if quiet else 1 + verbose
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        if not tenants and not tenant:
            raise UsageError("Name the tenants to create: TENANT... or --tenant GLOB.")
        config = bootstrap(settings, pythonpath or ())
        selection = selection_of(orm, [*(tenants or ()), *(tenant or ())], exclude, None)
        locks = LockPolicy(lock_timeout)
        policy = RunPolicy(locks=locks, create_missing=True, only_missing=True, template=not no_template)
        folder = journal_dir(journal)
        written = None if no_journal else JournalSpec(folder, {"argv": sys.argv[1:]}, exit_code_follows=True)
    run = Run(output, config, selection, policy, ExecutorSpec("processes", jobs), written)
    run_and_render(run, json_output, verbosity, show_traceback)


create.__doc__ = f"{create.__doc__}\n\n{EXIT_CODES_HELP}"
