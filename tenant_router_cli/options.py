"""The commands' options, declared once (shared ones first, then `migrate`'s own)."""

from __future__ import annotations

from typing import Annotated

import typer

from tenant_router import DEFAULT_MAX_RSS_MB, DEFAULT_TASKS_PER_WORKER, PATTERN_HELP, Selection

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


def selection_of(
    orm: list[str] | None, tenant: list[str] | None, exclude: list[str] | None, shard: str | None
) -> Selection:
    """The Selection that --orm, --tenant, --exclude and --shard describe."""
    return Selection(tuple(orm or ()), tuple(tenant or ()), tuple(exclude or ()), shard)


# -- migrate's own ---------------------------------------------------------------------------------
Opt = typer.Option
Migration = Annotated[
    str | None,
    typer.Argument(
        metavar="MIGRATION", show_default=False, help="With --target APP_LABEL: the migration name (or zero)."
    ),
]
Target = Annotated[
    str | None,
    Opt(
        "--target",
        metavar="APP_LABEL|REV",
        help="Roll forward or back to this migration: --target APP_LABEL MIGRATION (Django) or --target REV (Alembic); needs --orm.",
    ),
]
Plan = Annotated[bool, Opt("--plan", help="Show what would run, per group of databases; touch nothing.")]
Check = Annotated[bool, Opt("--check", help="Exit 4 when anything is pending, else 0; touch nothing.")]
Canary = Annotated[
    int, Opt("--canary", metavar="K", help="Migrate K tenants first; stop if any of them fails.")
]
FailFast = Annotated[
    bool, Opt("--fail-fast", help="Stop at the first failure; the rest are reported not started.")
]
MaxFailures = Annotated[
    int | None, Opt("--max-failures", metavar="N", help="Start no new tenant after N failures.")
]
OnlyFailed = Annotated[
    str | None,
    Opt(
        "--only-failed",
        metavar="[RUN_ID]",
        help="Only the tenants that failed or never finished in the last (or given) run.",
    ),
]
MaxPerHost = Annotated[
    int | None,
    Opt("--max-connections-per-host", metavar="N", help="At most N databases of one server at once."),
]
LockTimeout = Annotated[
    float,
    Opt("--lock-timeout", metavar="SECONDS", help="Wait this long for a database another run is migrating."),
]
LockWait = Annotated[
    float | None,
    Opt(
        "--lock-wait",
        metavar="SECONDS",
        help="A migration step waits at most this long for a table lock, then its database is retried later (lock-safe on live tenants).",
    ),
]
LockRetries = Annotated[
    int | None,
    Opt(
        "--lock-retries",
        metavar="N",
        help="With --lock-wait: retry a busy database N times (default 3), then report it busy.",
    ),
]
LockRetryDelay = Annotated[
    float | None,
    Opt(
        "--lock-retry-delay",
        metavar="SECONDS",
        help="With --lock-wait: the first retry's back-off (default 5), doubled for each next one.",
    ),
]
StatementTimeout = Annotated[
    float | None,
    Opt(
        "--statement-timeout",
        metavar="SECONDS",
        help="A migration statement that runs longer fails its database (not retried).",
    ),
]
Journal = Annotated[
    str | None,
    Opt(
        "--journal",
        metavar="DIR",
        help="Journal folder (default TENANT_ROUTER_JOURNAL_DIR, else BASE_DIR/.tenant-router/journal).",
    ),
]
NoJournal = Annotated[bool, Opt("--no-journal", help="Write no journal.")]
MetricsFile = Annotated[
    str | None,
    Opt(
        "--metrics-file",
        metavar="PATH",
        help="Write the run's metrics there in the Prometheus text format (node_exporter's textfile "
        "collector), atomically, during the run and at its end. Needs tenant-router[metrics].",
    ),
]
MetricsInterval = Annotated[
    float, Opt("--metrics-interval", metavar="SECONDS", help="With --metrics-file: rewrite it this often.")
]
WorkerTasks = Annotated[
    int, Opt("--worker-tasks", metavar="N", help="Replace a worker after N tasks (memory stays flat).")
]
WorkerMaxRss = Annotated[
    float, Opt("--worker-max-rss", metavar="MB", help="Replace a worker above this resident memory.")
]
CreateMissing = Annotated[
    bool,
    Opt(
        "--create-missing",
        help="Create the selected tenant databases that do not exist (as the tenant's own role), then "
        "migrate them; one whose migration does not complete is dropped again.",
    ),
]
NoTemplate = Annotated[
    bool,
    Opt(
        "--no-template",
        help="Create missing databases empty and migrate them, instead of copying a template at head.",
    ),
]
RefuseDrift = Annotated[
    bool,
    Opt(
        "--refuse-drift",
        help="Check pending databases for schema drift first; leave drifted ones alone (exit 6).",
    ),
]
NoProgress = Annotated[bool, Opt("--no-progress", help="No live table, even on a terminal.")]
Verbose = Annotated[
    int,
    Opt(
        "--verbose",
        "-v",
        count=True,
        show_default=False,
        help="More lines (-v: every migration applied).",
    ),
]
Quiet = Annotated[bool, Opt("--quiet", "-q", help="Only failures and the summary.")]
DEFAULT_WORKER_TASKS = DEFAULT_TASKS_PER_WORKER
DEFAULT_WORKER_MAX_RSS = DEFAULT_MAX_RSS_MB
