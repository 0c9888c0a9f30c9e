"""tenant-router: one database per tenant, across ORMs, migrated safely and fast.

Public API (re-exports only).
"""

from .config.backends import BackendInfo, describe_backends
from .config.loader import load_config
from .config.model import OrmSpec, RouterConfig
from .context import current_tenant, tenant_context_bind
from .drift.report import DriftReport
from .errors import (
    ConfigurationError,
    ScratchDatabaseError,
    SelectionError,
    TenantMigrationError,
    TenantRouterError,
    UsageError,
)
from .record.events import MigrationEvent, Status
from .record.report import MigrationReport, TenantResult
from .run.drift_twin import detect_drift
from .run.engine import RunInterrupted, migrate_tenants
from .run.fleet import FleetStatus, fleet_status
from .safety.cancel import request_stop

__all__ = [
    "BackendInfo",
    "ConfigurationError",
    "DriftReport",
    "FleetStatus",
    "MigrationEvent",
    "MigrationReport",
    "OrmSpec",
    "RouterConfig",
    "RunInterrupted",
    "ScratchDatabaseError",
    "SelectionError",
    "Status",
    "TenantMigrationError",
    "TenantResult",
    "TenantRouterError",
    "UsageError",
    "current_tenant",
    "describe_backends",
    "detect_drift",
    "fleet_status",
    "load_config",
    "migrate_tenants",
    "request_stop",
    "tenant_context_bind",
]
__version__ = "0.1.0"
