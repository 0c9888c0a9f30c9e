"""SqlAlchemyOrmManager: per-tenant SQLAlchemy engines and sessions, from SQLALCHEMY_DATABASES templates."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from ...config.model import OrmSpec, RouterConfig
from ...config.orm_settings import check_create_options, reject_unknown_keys
from ...context import current_binding
from ...errors import ConfigurationError, TenantRouterError
from ...safety.redact import REDACTOR, mask_url
from ..base import BaseOrmManager
from .urls import ENTRY_KEYS, build_url, describe_url, merge_entry, render

Key = tuple[str | None, str]  # (tenant or None for a reserved alias, alias)


class TenantNotBoundError(TenantRouterError):
    """An engine or session was asked for outside `tenant_context_bind(...)` and without a tenant."""


def _check_entry(where: str, entry: Any, *, base_dir: Path | None, needs_url: bool) -> None:
    """Shape, keys, ENGINE_OPTIONS and (when `needs_url`) a URL SQLAlchemy can parse."""
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where} must be a dict like {{'URL': ...}}.", check_id="E008")
    reject_unknown_keys(where, entry, ENTRY_KEYS, "E008")
    if not isinstance(entry.get("ENGINE_OPTIONS", {}), Mapping):
        raise ConfigurationError(f"{where}['ENGINE_OPTIONS'] must be a dict.", check_id="E008")
    check_create_options(where, entry.get("CREATE"), "E008")
    if not needs_url:
        return
    try:
        build_url(entry, base_dir)
    except Exception as exc:
        raw = entry.get("URL")
        # Only a URL-shaped value can have its password found and masked; anything else stays unshown.
        shown = f" {mask_url(raw)!r}" if isinstance(raw, str) and "://" in raw else ""
        raise ConfigurationError(
            f"{where} has an unusable URL{shown}: {REDACTOR(str(exc))}.",
            hint="Use a SQLAlchemy URL such as postgresql+psycopg://user:password@host/name "
            "(URL-encode special characters of the password).",
            check_id="E008",
        ) from exc


class SqlAlchemyOrmManager(BaseOrmManager):
    """Each (tenant, template alias) gets its own lazily created, cached Engine and sessionmaker.

    At run time: `with tenant_context_bind("tenant-1"): session = manager.session()`.
    """

    DEFAULT_SETTINGS_KEY = "SQLALCHEMY_DATABASES"
    DEFAULT_MIGRATION_ASST = "tenant_router.orm_backends.sqlalchemy_orm.migration_asst.AlembicMigrationAsst"

    def __init__(self, spec: OrmSpec, config: RouterConfig) -> None:
        super().__init__(spec, config)
        self._engines: dict[Key, Engine] = {}
        self._sessionmakers: dict[Key, sessionmaker[Session]] = {}
        self._lock = threading.Lock()

    # -- validation ------------------------------------------------------------------------
    @classmethod
    def validate_spec(cls, spec: OrmSpec, settings: Any) -> None:
        """Templates must be dicts of known keys; reserved aliases need a usable URL of their own."""
        for alias, template in spec.templates.items():
            _check_entry(
                f"{spec.settings_key}[{alias!r}]",
                template,
                base_dir=None,
                needs_url=alias in spec.reserved_aliases or "URL" in template,
            )

    @classmethod
    def validate_entry(cls, spec: OrmSpec, tenant: str, alias: str, entry: Mapping[str, Any]) -> None:
        """Unknown keys, bad ENGINE_OPTIONS and unparsable URLs are errors naming tenant and alias."""
        where = f"Tenant configuration: tenant {tenant!r}, {spec.key}.{alias}"
        _check_entry(where, entry, base_dir=None, needs_url=False)
        _check_entry(where, merge_entry(spec.templates[alias], entry), base_dir=None, needs_url=True)

    # -- settings per database -------------------------------------------------------------
    def _normalize(self, merged: Mapping[str, Any], base_dir: Path | None) -> dict[str, Any]:
        """{"URL": <full URL string>, "ENGINE_OPTIONS": {...}} (and "CREATE" when it is set)."""
        url = build_url(merged, base_dir)
        found = {"URL": render(url), "ENGINE_OPTIONS": dict(merged.get("ENGINE_OPTIONS") or {})}
        if merged.get("CREATE"):
            found["CREATE"] = dict(merged["CREATE"])
        return found

    def tenant_db_config(self, tenant: str, alias: str) -> dict[str, Any] | None:
        """{"URL", "ENGINE_OPTIONS"} of this tenant's `alias` (merged over the template), or None."""
        entry = (self.tenant_entry(tenant) or {}).get(alias)
        if entry is None:
            return None
        return self._normalize(merge_entry(self.templates[alias], entry), self.config.tenant_config.base_dir)

    def reserved_db_config(self, alias: str) -> dict[str, Any]:
        """{"URL", "ENGINE_OPTIONS"} of a reserved (shared) alias, as written in the settings."""
        return self._normalize(self.templates[alias], None)

    def db_config(self, tenant: str | None, alias: str) -> dict[str, Any]:
        """The normalized settings of one tenant database (or a reserved alias, tenant=None)."""
        cfg = self.reserved_db_config(alias) if tenant is None else self.tenant_db_config(tenant, alias)
        if cfg is None:
            raise ConfigurationError(
                f"Tenant {tenant!r} has no {self.orm_key}.{alias} entry in the tenant configuration."
            )
        return cfg

    def url(self, tenant: str | None, alias: str) -> URL:
        """The URL of one tenant database (or of a reserved alias, tenant=None)."""
        return make_url(self.db_config(tenant, alias)["URL"])

    def describe_database(self, tenant: str | None, alias: str) -> str:
        """`sqlite /path` or the URL without its password."""
        try:
            return describe_url(self.url(tenant, alias))
        except ConfigurationError:
            return "(not configured)"

    def host_key(self, db_config: dict[str, Any]) -> str | None:
        """The server ("host:port") of a database, for per-host connection limits; None for SQLite."""
        url = make_url(db_config["URL"])
        if url.get_backend_name() == "sqlite":
            return None
        return f"{url.host or 'localhost'}:{url.port or ''}"

    def describe(self) -> dict[str, str]:
        """The Alembic script location and head revision(s), when the assistant is Alembic's."""
        options = self.spec.asst_options
        if "ALEMBIC_INI" not in options and "SCRIPT_LOCATION" not in options:
            return {}
        from .scripts import AlembicScripts, settings_base_dir

        return AlembicScripts.locate(
            f"TENANT_ROUTER_ORM_SETTINGS[{self.orm_key!r}]['OPTIONS']['MIGRATION_ASST']['OPTIONS']",
            alembic_ini=options.get("ALEMBIC_INI"),
            script_location=options.get("SCRIPT_LOCATION"),
            target=options.get("TARGET", "heads"),
            base_dir=settings_base_dir(),
        ).describe()

    # -- engines and sessions --------------------------------------------------------------
    @staticmethod
    def create_engine(db_config: Mapping[str, Any], **overrides: Any) -> Engine:
        """A new Engine for a normalized db_config (the caller disposes it)."""
        options = {**dict(db_config.get("ENGINE_OPTIONS") or {}), **overrides}
        return sqlalchemy.create_engine(make_url(db_config["URL"]), **options)

    def _key(self, tenant: str | None, alias: str | None) -> Key:
        if alias is not None and alias in self.reserved_aliases:
            return (None, alias)
        binding = current_binding()
        if alias is None:
            alias = self.template_aliases[0]
        if alias not in self.template_aliases:
            raise ConfigurationError(
                f"{alias!r} is not an alias of {self.spec.settings_key} ({', '.join(self.templates)})."
            )
        tenant = tenant if tenant is not None else (binding.tenant if binding else None)
        if not tenant:
            raise TenantNotBoundError(
                f"No tenant is bound for {self.orm_key}.",
                hint="Wrap the code in `with tenant_context_bind(tenant_id):` or pass tenant=...",
            )
        return (tenant, alias)

    def engine(self, alias: str | None = None, *, tenant: str | None = None) -> Engine:
        """The bound (or given) tenant's Engine for `alias` (default: the first template alias)."""
        key = self._key(tenant, alias)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = self._engines[key] = self.create_engine(self.db_config(*key))
            return engine

    def sessionmaker(self, alias: str | None = None, *, tenant: str | None = None) -> sessionmaker[Session]:
        """The cached sessionmaker bound to the tenant's Engine."""
        key = self._key(tenant, alias)
        engine = self.engine(key[1], tenant=key[0])
        with self._lock:
            factory = self._sessionmakers.get(key)
            if factory is None:
                factory = self._sessionmakers[key] = sessionmaker(bind=engine)
            return factory

    def session(self, alias: str | None = None, *, tenant: str | None = None, **kwargs: Any) -> Session:
        """A new Session on the bound (or given) tenant's database; close it (or use `with`)."""
        return self.sessionmaker(alias, tenant=tenant)(**kwargs)

    def close(self) -> None:
        """Dispose every engine handed out so far (they are created again on demand)."""
        with self._lock:
            engines = list(self._engines.values())
            self._engines.clear()
            self._sessionmakers.clear()
        for engine in engines:
            engine.dispose()
