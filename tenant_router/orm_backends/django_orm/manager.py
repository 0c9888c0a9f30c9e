"""DjangoOrmManager: tenant databases as Django connection aliases, registered on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dj_database_url
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.module_loading import import_string

from ...config.model import OrmSpec
from ...config.orm_settings import check_create_options, reject_unknown_keys
from ...errors import ConfigurationError
from ...safety.redact import REDACTOR, mask_settings, mask_url
from ..base import BaseOrmManager, merge_db_config
from ..base.sqlite_names import sqlite_name_in
from .pinned import open_wrapper

DB_KEYS = frozenset(
    {
        "ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS", "TEST", "URL",
        "ATOMIC_REQUESTS", "AUTOCOMMIT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "TIME_ZONE",
        "DISABLE_SERVER_SIDE_CURSORS", "CREATE",
    }
)  # fmt: skip
Strategy = Callable[..., bool | None]
#: What each DATABASES key must hold (a tenant's NUMBER where a string belongs is exit 3, not a failure).
KEY_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    **dict.fromkeys(("ENGINE", "USER", "PASSWORD", "HOST", "URL", "TIME_ZONE"), ((str,), "a string")),
    "NAME": ((str, Path), "a string"),
    "PORT": ((str, int), "a string or a number"),
    **dict.fromkeys(("OPTIONS", "TEST", "CREATE"), ((Mapping,), "an object")),
    **dict.fromkeys(
        ("ATOMIC_REQUESTS", "AUTOCOMMIT", "CONN_HEALTH_CHECKS", "DISABLE_SERVER_SIDE_CURSORS"),
        ((bool,), "true or false"),
    ),
    "CONN_MAX_AGE": ((int, type(None)), "a number of seconds or null"),
}


def _from_url(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Expand a {"URL": ...} entry into DATABASES keys; the other keys win over the URL's."""
    if "URL" not in entry:
        return dict(entry)
    parsed = dict(dj_database_url.parse(entry["URL"]))
    parsed = {k: v for k, v in parsed.items() if v not in (None, "") or k == "NAME"}
    return merge_db_config(parsed, {k: v for k, v in entry.items() if k != "URL"})


class DjangoOrmManager(BaseOrmManager):
    """Tenant databases of the Django ORM: each (tenant, template alias) becomes a connection alias."""

    DEFAULT_SETTINGS_KEY = "DATABASES"

    DEFAULT_MIGRATION_ASST = "tenant_router.orm_backends.django_orm.migration_asst.DjangoOrmMigrationAsst"

    @classmethod
    def validate_spec(cls, spec: OrmSpec, settings: Any) -> None:
        """Templates must be DATABASES entries; MIGRATE_STRATEGY must import and be callable."""
        for alias, template in spec.templates.items():
            if not isinstance(template, Mapping):
                raise ConfigurationError(
                    f"{spec.settings_key}[{alias!r}] must be a dict of database settings.",
                    check_id="E005",
                )
        databases = getattr(settings, "DATABASES", {})
        for alias in spec.reserved_aliases:
            if alias not in databases:
                raise ConfigurationError(
                    f"Reserved alias {alias!r} of {spec.key} is not in DATABASES, so Django cannot "
                    "connect to it.",
                    check_id="E006",
                )
        cls.strategy_for(spec)

    @staticmethod
    def strategy_for(spec: OrmSpec) -> Strategy | None:
        """The OPTIONS.ROUTER_OPTS.MIGRATE_STRATEGY callable, imported, or None."""
        opts = spec.options.get("ROUTER_OPTS", {})
        where = f"TENANT_ROUTER_ORM_SETTINGS[{spec.key!r}]['OPTIONS']['ROUTER_OPTS']"
        if not isinstance(opts, Mapping):
            raise ConfigurationError(f"{where} must be a dict.", check_id="E009")
        path = opts.get("MIGRATE_STRATEGY")
        if path is None:
            return None
        try:
            func = import_string(path) if isinstance(path, str) else path
        except ImportError as exc:
            raise ConfigurationError(
                f"{where}['MIGRATE_STRATEGY'] = {path!r} cannot be imported: {exc}.",
                check_id="E009",
            ) from exc
        if not callable(func):
            raise ConfigurationError(f"{where}['MIGRATE_STRATEGY'] is not callable.", check_id="E009")
        return func

    @classmethod
    def validate_entry(cls, spec: OrmSpec, tenant: str, alias: str, entry: Mapping[str, Any]) -> None:
        """Unknown keys and unparsable URLs are configuration errors naming the tenant."""
        where = f"tenant {tenant!r}, {spec.key}.{alias}"
        reject_unknown_keys(
            f"Tenant configuration: {where}",
            entry,
            DB_KEYS,
            "E008",
            hint="Use DATABASES keys (ENGINE, NAME, USER, PASSWORD, HOST, PORT, OPTIONS, ...) or URL.",
        )
        for key, value in entry.items():
            types, what = KEY_TYPES.get(key, ((object,), ""))
            fits = (value is None or isinstance(value, types)) and isinstance(value, bool) == (bool in types)
            if not fits:
                raise ConfigurationError(
                    f"Tenant configuration: {where}[{key!r}] must be {what}, got {type(value).__name__}.",
                    check_id="E008",
                )
        check_create_options(f"Tenant configuration: {where}", entry.get("CREATE"), "E008")
        if "URL" in entry:
            url = entry["URL"]
            try:
                if not isinstance(url, str):
                    raise ValueError("not a string")
                _from_url(entry)
            except Exception as exc:
                raise ConfigurationError(
                    f"Tenant configuration: {where} has an unusable URL "
                    f"{mask_url(url) if isinstance(url, str) else url!r}: {REDACTOR(str(exc))}.",
                    check_id="E008",
                ) from exc
        merged = merge_db_config(spec.templates[alias], _from_url(entry))
        if not merged.get("ENGINE"):
            raise ConfigurationError(
                f"Tenant configuration: {where} has no ENGINE (neither the tenant nor the template sets one).",
                check_id="E008",
            )

    # -- settings per tenant -----------------------------------------------------------------
    def tenant_db_config(self, tenant: str, alias: str) -> dict[str, Any] | None:
        """DATABASES entry of this tenant's `alias`: URL expanded, merged over the template."""
        entry = (self.tenant_entry(tenant) or {}).get(alias)
        if entry is None:
            return None
        merged = merge_db_config(self.templates[alias], _from_url(entry))
        name = merged.get("NAME")
        if "sqlite" in str(merged.get("ENGINE", "")) and isinstance(name, str | Path):
            # relative to the tenant configuration file; Django opens every SQLite name as a URI
            merged["NAME"] = sqlite_name_in(self.config.tenant_config.base_dir, str(name), uri=True)
        return merged

    def describe_database(self, tenant: str | None, alias: str) -> str:
        """ENGINE name and where: `postgresql user@host:port/name` or `sqlite /path`; no password."""
        cfg = self.reserved_db_config(alias) if tenant is None else self.tenant_db_config(tenant, alias)
        if cfg is None:
            return "(not configured)"
        cfg = mask_settings(cfg)
        engine = str(cfg.get("ENGINE", "")).rsplit(".", 1)[-1]
        if "sqlite" in engine:
            return f"{engine} {cfg.get('NAME')}"
        user = f"{cfg['USER']}@" if cfg.get("USER") else ""
        port = f":{cfg['PORT']}" if cfg.get("PORT") else ""
        return f"{engine} {user}{cfg.get('HOST') or 'localhost'}{port}/{cfg.get('NAME')}"

    def host_key(self, db_config: dict[str, Any]) -> str | None:
        """HOST:PORT of a server database; None for SQLite files."""
        if "sqlite" in str(db_config.get("ENGINE", "")):
            return None
        return f"{db_config.get('HOST') or 'localhost'}:{db_config.get('PORT') or ''}"

    # -- connections ---------------------------------------------------------------------------
    @contextmanager
    def connection(self, alias: str) -> Iterator[BaseDatabaseWrapper]:
        """Django's own connection to a reserved alias, closed afterwards."""
        try:
            yield connections[alias]
        finally:
            connections[alias].close()

    def tenant_connection(self, tenant: str, alias: str) -> BaseDatabaseWrapper | None:
        """A new, unconnected connection to the tenant's `alias` database, calling itself by the template
        alias name as it would if it were the project's only database (see binding.py); None when the
        tenant has no database for it."""
        cfg = self.tenant_db_config(tenant, alias) if alias in self.template_aliases else None
        return None if cfg is None else open_wrapper(cfg, alias)
