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
    event_to_dict,
)
from .record.journal import RunRecord, Unfinished, find_run, runs, unfinished
from .record.keys import DbKey, database_label
from .record.plaintext import (
    INTERRUPTED_LINE,
    STATUS_WORDS,
    PlainProgress,
    finished_steps,
    format_summary,
    missing_line,
    next_steps,
    not_started_line,
    printable,
    summary_counts,
)
from .record.report import SETTLED, MigrationReport, TenantResult
from .run.engine import RunAborted, RunInterrupted
from .run.requests import JournalSpec, LockPolicy, RunPolicy, Selection
from .run.selection import PATTERN_HELP
from .run.status import DatabaseState, FleetStatus
from .run.templates import TemplateInventory, TemplateRow
from .safety.cancel import request_stop, stop_requested
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
    "PlainProgress",
    "ProvisionError",
    "RouterConfig",
    "RunAborted",
    "RunInterrupted",
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
    "Unfinished",
    "UsageError",
    "current_tenant",
    "database_label",
    "describe_backends",
    "detect_drift",
    "event_to_dict",
    "find_run",
    "finished_steps",
    "fleet_status",
    "format_summary",
    "journal_dir",
    "list_templates",
    "load_config",
    "mask_data",
    "migrate_tenants",
    "missing_line",
    "next_steps",
    "not_started_line",
    "printable",
    "provision_tenant",
    "provision_tenants",
    "request_stop",
    "runs",
    "stop_requested",
    "summary_counts",
    "tenant_context_bind",
    "unfinished",
]
__version__ = "0.1.0"
