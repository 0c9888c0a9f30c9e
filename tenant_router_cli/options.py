"""Options shared by every command."""

from __future__ import annotations

from typing import Annotated

import typer

from tenant_router.run.selection import PATTERN_HELP

Settings = Annotated[
    str | None,
    typer.Option(
        "--settings",
        metavar="MODULE",
        envvar="DJANGO_SETTINGS_MODULE",
        help="Django settings module (or DJANGO_SETTINGS_MODULE).",
    ),
]
PythonPath = Annotated[
    list[str] | None,
    typer.Option("--pythonpath", metavar="DIR", help="Folder to put on the Python path first (repeatable)."),
]
Json = Annotated[bool, typer.Option("--json", help="JSON Lines on stdout, nothing else.")]
Traceback = Annotated[bool, typer.Option("--traceback", help="Show tracebacks (passwords masked).")]
ListTenants = Annotated[bool, typer.Option("--tenants", help="List the databases of each group.")]
Orm = Annotated[
    list[str] | None, typer.Option("--orm", metavar="KEY", help="Only this ORM key (repeatable).")
]
Tenant = Annotated[
    list[str] | None,
    typer.Option(
        "--tenant",
        metavar="ID|GLOB|@FILE",
        help=f"Only these tenants (repeatable). {PATTERN_HELP}",
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="ID|GLOB|@FILE",
        help="Leave these tenants out (repeatable; ids and patterns as for --tenant).",
    ),
]
Shard = Annotated[
    str | None,
    typer.Option(
        "--shard", metavar="I/N", help="Only shard I of N (a stable hash of the tenant id; I from 1)."
    ),
]
Jobs = Annotated[
    int,
    typer.Option("--jobs", "-j", metavar="N", help="Worker processes (0: one per CPU; 1: in this process)."),
]
Executor = Annotated[
    str,
    typer.Option(
        "--executor",
        metavar="processes|celery",
        help="Where databases are migrated: forked worker processes (--jobs), or the project's Celery workers.",
    ),
]
CeleryApp = Annotated[
    str | None,
    typer.Option(
        "--celery-app",
        metavar="MODULE:ATTR",
        help="The project's Celery app, for --executor celery (default TENANT_ROUTER_CELERY_APP).",
    ),
]
Queue = Annotated[
    str | None,
    typer.Option(
        "--queue", metavar="NAME", help="The queue the Celery workers consume (default tenant_router)."
    ),
]
