"""Template alias names mean the bound tenant's databases: inside a binding, `connections["default"]` *is*
the tenant's `default` database.

Django keeps one connection object per alias and thread in `connections._connections`; tenant-router puts a
thin view in front of it (`install()`). For each template alias of the Django ORM (every `DATABASES` alias
that is not reserved):

* while a tenant database is migrated, the connection the migration pinned (`pinned_databases()`), and
  the tenant's other databases under their own alias names, opened on first use and closed afterwards;
* inside `tenant_context_bind(tenant)` at run time, that tenant's database: one connection object per
  thread, tenant and alias, kept as `CONN_MAX_AGE` says (closed at the end of each request, like Django's);
* with nothing bound, a stand-in that raises `TemplateAccessError` instead of connecting, unless
  `TENANT_ROUTER_ALLOW_TEMPLATE_ACCESS = True` (then Django's own connection to the template).

So every way code reaches "the database" (`django.db.connection`, `connections["default"]`,
`using=DEFAULT_DB_ALIAS`, `.db_manager("default")`, `transaction.atomic()`, raw cursors, routed queries, a
migration's `schema_editor.connection.alias`, `connection.vendor`) reaches the bound tenant, exactly as if
it were the project's only database. Reserved aliases and every other alias stay Django's own.

This module is the view and its installation; what it reads lives below it: pinned.py (a migrated
tenant's databases), template_aliases.py (what the settings say), thread_connections.py (run-time
connections and the refusing stand-ins).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.signals import request_finished, request_started, setting_changed
from django.db import connections

from ...context import current_binding
from .pinned import PinnedDatabases, current_pinned, pinning
from .template_aliases import ALLOW_SETTING, bound_database_key, forget_settings, runtime, template_aliases
from .thread_connections import (
    TemplateAccessError,
    close_tenant_connections,
    missing_database,
    runtime_connection,
    unbound_guard,
)

__all__ = [
    "ALLOW_SETTING",
    "TemplateAccessError",
    "install",
    "installed",
    "is_template_alias",
    "pinned_databases",
]


@contextmanager
def pinned_databases(pinned: PinnedDatabases) -> Iterator[PinnedDatabases]:
    """Make the template alias names mean `pinned`'s databases for the block (this thread / task)."""
    install()
    with pinning(pinned):
        yield pinned


def forget_runtime(**kwargs: Any) -> None:
    """Read the settings again on next use (connected to `setting_changed`)."""
    setting = str(kwargs.get("setting", ""))
    if not kwargs or setting.startswith("TENANT_ROUTER_") or setting == "DATABASES":
        forget_settings()
        close_tenant_connections()


# -- the view in front of Django's per-thread connections -------------------------------------------
class TenantConnections:
    """Stands in for `connections._connections`: template aliases resolve to the bound tenant."""

    def __init__(self, inner: Any) -> None:
        object.__setattr__(self, "_inner", inner)

    def __getattr__(self, alias: str) -> Any:
        pinned = current_pinned()
        if pinned is not None and (alias in pinned.given or alias in template_aliases()):
            conn = pinned.get(alias)
            if conn is None:
                return missing_database(
                    pinned.tenant,
                    alias,
                    f"Tenant {pinned.tenant!r} has no django_orm.{alias} entry in the tenant configuration.",
                )
            return conn
        state = runtime()
        if alias not in state.templates:
            return getattr(self._inner, alias)
        binding = current_binding()
        if binding is not None:
            return runtime_connection(binding.tenant, alias)
        if state.allow:
            return getattr(self._inner, alias)
        return unbound_guard(alias)

    def __setattr__(self, alias: str, value: Any) -> None:
        setattr(self._inner, alias, value)

    def __delattr__(self, alias: str) -> None:
        delattr(self._inner, alias)


class _PerDatabaseCache(dict[Any, Any]):
    """ContentType's cache, keyed by physical database: "default" inside tenant t is t's own."""

    def _key(self, using: Any) -> Any:
        bound = bound_database_key(using) if isinstance(using, str) else None
        return bound if bound is not None else using

    def __getitem__(self, using: Any) -> Any:
        return super().__getitem__(self._key(using))

    def __contains__(self, using: Any) -> bool:
        return super().__contains__(self._key(using))

    def get(self, using: Any, default: Any = None) -> Any:
        return super().get(self._key(using), default)

    def setdefault(self, using: Any, default: Any = None) -> Any:
        return super().setdefault(self._key(using), default)


class _PerDatabaseSiteCache(dict[Any, Any]):
    """Django's SITE_CACHE (site id or host -> Site), kept per physical database of the Site model."""

    def _key(self, key: Any) -> Any:
        from django.contrib.sites.models import Site

        using = Site.objects.db
        return bound_database_key(using) or using, key

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(self._key(key), value)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(self._key(key))

    def __contains__(self, key: Any) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._key(key), default)

    def pop(self, key: Any, *default: Any) -> Any:
        return super().pop(self._key(key), *default)


def _clear_site_cache(self: Any) -> None:
    """SiteManager.clear_cache, emptying the per-database cache instead of replacing it with a plain dict."""
    from django.contrib.sites import models as sites

    sites.SITE_CACHE.clear()


_install_lock = threading.Lock()


def install() -> None:
    """Put the view in front of Django's connections (idempotent, process-wide)."""
    if isinstance(connections._connections, TenantConnections):
        return
    with _install_lock:
        if isinstance(connections._connections, TenantConnections):
            return
        from django.apps import apps

        if apps.is_installed("django.contrib.contenttypes"):
            from django.contrib.contenttypes.models import ContentType

            manager: Any = ContentType.objects
            cache = manager._cache = _PerDatabaseCache(manager._cache)
            # `ContentType.objects` is a copy of the declared manager, made again after apps.clear_cache()
            # (a model registered late, TransactionTestCase.available_apps): copies share the declared one's.
            for declared in ContentType._meta.local_managers:
                declared._cache = cache
        if apps.is_installed("django.contrib.sites"):
            from django.contrib.sites import models as sites

            sites.SITE_CACHE = _PerDatabaseSiteCache()
            sites.SiteManager.clear_cache = _clear_site_cache
        quiet_history_check()
        setting_changed.connect(forget_runtime, dispatch_uid="tenant_router_binding")
        request_started.connect(close_tenant_connections, dispatch_uid="tenant_router_binding")
        request_finished.connect(close_tenant_connections, dispatch_uid="tenant_router_binding")
        connections._connections = TenantConnections(connections._connections)


def quiet_history_check() -> None:
    """`makemigrations` checks the migration history of every alias and warns for each one it cannot
    read: an unbound template alias is never read by design, so that warning says nothing (it is
    printed on every run). Using the alias for real still raises TemplateAccessError."""
    warnings.filterwarnings(
        "ignore",
        message=r"Got an error checking a consistent migration history performed for database "
        r"connection '[^']*': No tenant is bound: DATABASES\[",
        category=RuntimeWarning,
    )


def installed() -> bool:
    """True when template alias names are being resolved to tenants."""
    return isinstance(connections._connections, TenantConnections)


def is_template_alias(alias: str) -> bool:
    """True when `alias` is a tenant template of the current settings."""
    return alias in template_aliases()
