"""tenant-router: one database per tenant, across ORMs, migrated safely and fast.

The public API (re-exports only): the library twins of the commands and their request objects, what a
run reports, the tenant binding, and the pieces a front end renders with (the CLI imports nothing else).
"""

from .api import (
    detect_drift,
    fleet_status,
    list_templates,
    migrate_tenants,
    provision_tenant,
    provision_tenants,
)
from .config.backends import BackendInfo, describe_backends
from .config.environment import journal_dir
from .config.loader import load_config
from .config.model import OrmSpec, RouterConfig
from .context import current_tenant, tenant_context_bind
from .drift.report import STATES as DRIFT_STATES
from .drift.report import DatabaseDrift, DriftReport
from .errors import (
    ConfigurationError,
    ExecutorError,
    ProvisionError,
    ScratchDatabaseError,
    SelectionError,
    TenantMigrationError,
    TenantRouterError,
    UsageError,
)
from .executors import DEFAULT_MAX_RSS_MB, DEFAULT_TASKS_PER_WORKER, ExecutorSpec
from .record.events import (
    MigrationEvent,
    OutputLogged,
    RunStarted,
    Status,
    StepApplied,
    StepStarted,
    TenantBusy,
    TenantFailed,
    TenantFinished,
    TenantNoted,
    TenantPlanned,
    TenantRequeued,
    TenantRetried,
    TenantSkipped,
    TenantStarted,
    WorkerLost,
    event_to_dict,
)
from .record.history import find_one_run, newest_runs, run_details, run_summary
from .record.html_page import follow_run_page, write_run_page
from .record.journal import RunRecord, find_run, runs
from .record.keys import DbKey, database_label
from .record.metrics import RunMetrics
from .record.plaintext import (
    INTERRUPTED_LINE,
    STATUS_WORDS,
    PlainProgress,
    finished_steps,
    format_summary,
    left_at,
    missing_line,
    next_steps,
    not_started_line,
    output_line,
    output_shown,
    printable,
    summary_counts,
    where_left,
)
from .record.report import SETTLED, MigrationReport, TenantResult
from .record.timeline import Timeline, read_timeline
from .record.unfinished import Unfinished, unfinished
from .run.engine import RunAborted, RunInterrupted
from .run.requests import JournalSpec, LockPolicy, RunPolicy, Selection
from .run.selection import PATTERN_HELP
from .run.status import DatabaseState, FleetStatus
from .run.templates import TemplateInventory, TemplateRow
from .safety.cancel import request_stop, stop_asked_here, stop_requested
from .safety.redact import REDACTOR, mask_data

__all__ = [
    "DEFAULT_MAX_RSS_MB",
    "DEFAULT_TASKS_PER_WORKER",
    "DRIFT_STATES",
    "INTERRUPTED_LINE",
    "PATTERN_HELP",
    "REDACTOR",
    "SETTLED",
    "STATUS_WORDS",
    "BackendInfo",
    "ConfigurationError",
    "DatabaseDrift",
    "DatabaseState",
    "DbKey",
    "DriftReport",
    "ExecutorError",
    "ExecutorSpec",
    "FleetStatus",
    "JournalSpec",
    "LockPolicy",
    "MigrationEvent",
    "MigrationReport",
    "OrmSpec",
    "OutputLogged",
    "PlainProgress",
    "ProvisionError",
    "RouterConfig",
    "RunAborted",
    "RunInterrupted",
    "RunMetrics",
    "RunPolicy",
    "RunRecord",
    "RunStarted",
    "ScratchDatabaseError",
    "Selection",
    "SelectionError",
    "Status",
    "StepApplied",
    "StepStarted",
    "TemplateInventory",
    "TemplateRow",
    "TenantBusy",
    "TenantFailed",
    "TenantFinished",
    "TenantMigrationError",
    "TenantNoted",
    "TenantPlanned",
    "TenantRequeued",
    "TenantResult",
    "TenantRetried",
    "TenantRouterError",
    "TenantSkipped",
    "TenantStarted",
    "Timeline",
    "Unfinished",
    "UsageError",
    "WorkerLost",
    "current_tenant",
    "database_label",
    "describe_backends",
    "detect_drift",
    "event_to_dict",
    "find_one_run",
    "find_run",
    "finished_steps",
    "fleet_status",
    "follow_run_page",
    "format_summary",
    "journal_dir",
    "left_at",
    "list_templates",
    "load_config",
    "mask_data",
    "migrate_tenants",
    "missing_line",
    "newest_runs",
    "next_steps",
    "not_started_line",
    "output_line",
    "output_shown",
    "printable",
    "provision_tenant",
    "provision_tenants",
    "read_timeline",
    "request_stop",
    "run_details",
    "run_summary",
    "runs",
    "stop_asked_here",
    "stop_requested",
    "summary_counts",
    "tenant_context_bind",
    "unfinished",
    "where_left",
    "write_run_page",
]
__version__ = "0.1.0"
