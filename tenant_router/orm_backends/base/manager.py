"""BaseOrmManager: the tenants of one ORM and each tenant's connection settings per alias."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from ...config.model import OrmSpec, RouterConfig
from ...safety.redact import mask_settings


def merge_db_config(template: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """`entry` over a deep copy of `template`; nested dicts (OPTIONS, TEST, ...) merge key by key."""
    merged = copy.deepcopy(dict(template))
    for key, value in entry.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_db_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class BaseOrmManager:
    """Knows one ORM's template aliases, reserved aliases, tenants and per-tenant settings.

    Subclasses set DEFAULT_SETTINGS_KEY / DEFAULT_MIGRATION_ASST, may validate entries early
    (`validate_spec`, `validate_entry`, raising ConfigurationError) and translate a tenant's
    entry into what their ORM needs (`tenant_db_config`).
    """

    DEFAULT_SETTINGS_KEY: ClassVar[str | None] = None
    DEFAULT_MIGRATION_ASST: ClassVar[str | None] = None

    def __init__(self, spec: OrmSpec, config: RouterConfig) -> None:
        self.spec, self.config = spec, config

    # -- what the settings say --------------------------------------------------------------
    @property
    def orm_key(self) -> str:
        """The key of this ORM in TENANT_ROUTER_ORM_SETTINGS."""
        return self.spec.key

    @property
    def options(self) -> Mapping[str, Any]:
        """This ORM's OPTIONS."""
        return self.spec.options

    @property
    def templates(self) -> Mapping[str, Any]:
        """The SETTINGS_KEY dict: alias -> template settings."""
        return self.spec.templates

    @property
    def template_aliases(self) -> tuple[str, ...]:
        """Aliases replicated per tenant."""
        return self.spec.template_aliases

    @property
    def reserved_aliases(self) -> tuple[str, ...]:
        """Shared (central) aliases, migrated once per run before any tenant."""
        return self.spec.reserved_aliases

    def tenant_ids(self) -> list[str]:
        """Every tenant id of the configuration."""
        return self.config.tenant_ids()

    def tenant_entry(self, tenant: str) -> Mapping[str, Any] | None:
        """`orm_config.<orm key>` of this tenant: {alias: settings}, or None."""
        return self.config.tenant_config.orm_entry(tenant, self.config.service_name, self.orm_key)

    def tenant_count(self) -> int:
        """How many tenants configure at least one alias of this ORM."""
        return sum(1 for t in self.tenant_ids() if self.tenant_entry(t))

    def tenant_db_config(self, tenant: str, alias: str) -> dict[str, Any] | None:
        """The tenant's settings for `alias` merged over the template's, or None when absent."""
        entry = (self.tenant_entry(tenant) or {}).get(alias)
        if entry is None:
            return None
        return merge_db_config(self.templates[alias], entry)

    def reserved_db_config(self, alias: str) -> dict[str, Any]:
        """The settings of a reserved alias, as written."""
        return dict(self.templates[alias])

    def describe_database(self, tenant: str | None, alias: str) -> str:
        """Where this database lives, for people: never with its password."""
        cfg = self.reserved_db_config(alias) if tenant is None else self.tenant_db_config(tenant, alias)
        return str(mask_settings(cfg))

    # -- validation hooks ------------------------------------------------------------------
    @classmethod
    def validate_spec(cls, spec: OrmSpec, settings: Any) -> None:
        """Raise ConfigurationError for ORM-specific problems in TENANT_ROUTER_ORM_SETTINGS."""

    @classmethod
    def validate_entry(cls, spec: OrmSpec, tenant: str, alias: str, entry: Mapping[str, Any]) -> None:
        """Raise ConfigurationError for a tenant entry this ORM cannot use."""

    def host_key(self, db_config: dict[str, Any]) -> str | None:
        """The server a database lives on ("host:port"), for --max-connections-per-host; None for files."""
        return None

    def describe(self) -> dict[str, str]:
        """Extra facts for `list-backends` (e.g. a script location and its heads)."""
        return {}

    def close(self) -> None:
        """Release whatever the manager holds open (engines, connections)."""
