"""tenant-router: one database per tenant, across ORMs, migrated safely and fast.

Public API (re-exports only).
"""

from .backends import BackendInfo, describe_backends
from .cancel import request_stop
from .config import OrmSpec, RouterConfig, load_config
from .context import current_tenant, tenant_context_bind
from .drift.report import DriftReport
from .drift.run import detect_drift
from .engine import RunInterrupted, migrate_tenants
from .errors import (
    ConfigurationError,
    ScratchDatabaseError,
    SelectionError,
    TenantMigrationError,
    TenantRouterError,
    UsageError,
)
from .events import MigrationEvent, Status
from .fleet import FleetStatus, fleet_status
from .report import MigrationReport, TenantResult

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
