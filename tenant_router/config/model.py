"""What a run knows of its configuration, validated: the ORM entries, the tenant document, the whole.

Plain data, read by `config/` and used everywhere below the public API; a backend's manager is built
from an `OrmSpec` and the `RouterConfig` (see `RouterConfig.manager`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SelectionError

ORM_SETTINGS = "TENANT_ROUTER_ORM_SETTINGS"


@dataclass(frozen=True)
class TenantConfig:
    """The tenant configuration document, already checked for shape."""

    source: str  # shown in messages: a file path or a dotted callable path
    base_dir: Path | None  # relative SQLite paths are resolved against this (the file's folder)
    tenants: Mapping[str, Mapping[str, Any]]  # tenant id -> {service name: {...}}

    def orm_entry(self, tenant: str, service: str, orm: str) -> Mapping[str, Any] | None:
        """`tenant_config.<tenant>.<service>.orm_config.<orm>`, or None when absent."""
        service_entry = self.tenants.get(tenant, {}).get(service)
        if not isinstance(service_entry, Mapping):
            return None
        entry = service_entry.get("orm_config", {}).get(orm)
        return entry if isinstance(entry, Mapping) else None


@dataclass(frozen=True)
class OrmSpec:
    """One validated entry of TENANT_ROUTER_ORM_SETTINGS."""

    key: str
    manager_path: str
    manager_class: type[Any]  # a BaseOrmManager subclass (checked by orm_settings)
    settings_key: str
    options: Mapping[str, Any]
    asst_path: str
    asst_class: type[Any]  # a BaseOrmMigrationAsst subclass
    asst_options: Mapping[str, Any]
    reserved_aliases: tuple[str, ...]
    templates: Mapping[str, Any]  # the SETTINGS_KEY dict as read now

    @property
    def template_aliases(self) -> tuple[str, ...]:
        """Aliases replicated per tenant: every alias of SETTINGS_KEY that is not reserved."""
        return tuple(a for a in self.templates if a not in self.reserved_aliases)


@dataclass(frozen=True)
class RouterConfig:
    """Everything a run needs to know, validated; travels instead of `django.conf.settings`."""

    service_name: str
    specs: tuple[OrmSpec, ...]
    tenant_config: TenantConfig
    #: TENANT_ROUTER_DRIFT_SCRATCH: per engine (postgresql, mysql), connection overrides (USER, PASSWORD,
    #: HOST, PORT) for creating and migrating drift's scratch databases; empty: the tenant's own role.
    drift_scratch: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: TENANT_ROUTER_DRIFT_SCRATCH_PREFIX: how drift's scratch database names begin ("tr_drift").
    drift_prefix: str = "tr_drift"
    _managers: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def orms(self, only: Iterable[str] = ()) -> list[OrmSpec]:
        """The ORM specs in settings order, or just `only` (unknown keys are a SelectionError)."""
        only = list(only)
        known = {s.key for s in self.specs}
        unknown = [k for k in only if k not in known]
        if unknown:
            raise SelectionError(
                f"Unknown ORM {unknown[0]!r}: {ORM_SETTINGS} defines {', '.join(sorted(known))}.",
                hint="Pick --orm from the keys `tenant-router list-backends` shows.",
            )
        return [s for s in self.specs if not only or s.key in only]

    def tenant_ids(self) -> list[str]:
        """Every tenant id, in the order of the tenant configuration."""
        return list(self.tenant_config.tenants)

    def manager(self, orm: str) -> Any:
        """The (cached) manager of one ORM: a BaseOrmManager (the class its spec names, built once)."""
        if orm not in self._managers:
            spec = self.orms([orm])[0]
            self._managers[orm] = spec.manager_class(spec, self)
        return self._managers[orm]
