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
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.core.signals import request_finished, request_started, setting_changed
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import OperationalError, load_backend

from ...context import current_binding
from ...errors import ConfigurationError, TenantRouterError

ALLOW_SETTING = "TENANT_ROUTER_ALLOW_TEMPLATE_ACCESS"


class TemplateAccessError(TenantRouterError, OperationalError):
    """A template alias was used with no tenant bound; the template database is never connected to."""


def open_wrapper(db_config: Mapping[str, Any], alias: str) -> BaseDatabaseWrapper:
    """A Django connection object for `db_config` that calls itself `alias` (not connected yet)."""
    settings = connections.configure_settings({"default": dict(db_config)})["default"]
    return load_backend(settings["ENGINE"]).DatabaseWrapper(settings, alias)


@dataclass
class PinnedDatabases:
    """One tenant's databases while it is migrated: given ones, and the others opened on first use."""

    tenant: str
    given: dict[str, BaseDatabaseWrapper]
    opener: Callable[[str], BaseDatabaseWrapper | None]  # alias -> connection, None: no such database
    opened: dict[str, BaseDatabaseWrapper] = field(default_factory=dict)

    def get(self, alias: str) -> BaseDatabaseWrapper | None:
        """The tenant's connection for `alias`, or None when the tenant has no database for it."""
        if alias in self.given:
            return self.given[alias]
        if alias not in self.opened:
            conn = self.opener(alias)
            if conn is None:
                return None
            self.opened[alias] = conn
        return self.opened[alias]

    def close(self) -> None:
        """Close what was opened on demand (the given connections belong to the caller)."""
        for conn in self.opened.values():
            conn.close()
        self.opened.clear()


_pinned: ContextVar[PinnedDatabases | None] = ContextVar("tenant_router_pinned", default=None)


@contextmanager
def pinned_databases(pinned: PinnedDatabases) -> Iterator[PinnedDatabases]:
    """Make the template alias names mean `pinned`'s databases for the block (this thread / task)."""
    install()
    token = _pinned.set(pinned)
    try:
        yield pinned
    finally:
        _pinned.reset(token)
        pinned.close()


# -- what is a template alias, and whose database is it now ----------------------------------------
@dataclass
class _Runtime:
    templates: frozenset[str]
    allow: bool
    manager: Any  # the DjangoOrmManager of the current settings, or None
    error: ConfigurationError | None = None  # why there is no manager: bound template aliases raise it


_runtime: _Runtime | None = None
_runtime_lock = threading.RLock()
_NOTHING = _Runtime(frozenset(), True, None)  # while the settings are being read: no interception


def runtime() -> _Runtime:
    """The template aliases of the current settings (read once, again after settings change)."""
    global _runtime
    state = _runtime
    if state is None:
        with _runtime_lock:
            if _reading.active:
                return _reading.state
            if _runtime is None:
                _reading.active = True
                try:
                    _runtime = _read_runtime()
                finally:
                    _reading.active = False
            state = _runtime
    return state


class _Reading(threading.local):
    active = False
    state = _NOTHING  # what template aliases mean while this thread reads the settings


_reading = _Reading()


def _read_runtime() -> _Runtime:
    from django.conf import settings

    from ...config.loader import load_config
    from ...config.orm_settings import load_orm_specs
    from .manager import DjangoOrmManager

    allow = bool(getattr(settings, ALLOW_SETTING, False))
    try:
        specs = load_orm_specs(settings)
    except ConfigurationError:  # the settings themselves (`manage.py check` says): nothing is intercepted
        return _Runtime(frozenset(), allow, None)
    django_specs = [s for s in specs if issubclass(s.manager_class, DjangoOrmManager)]
    templates = frozenset(a for s in django_specs for a in s.template_aliases)
    # A TENANT_ROUTER_TENANT_CONFIG callable runs next: it may query reserved aliases, never a template.
    _reading.state = _Runtime(
        templates,
        allow,
        None,
        ConfigurationError(
            "A template alias was used while the tenant configuration was being read.",
            hint="A TENANT_ROUTER_TENANT_CONFIG callable reads the tenants from a reserved alias.",
        ),
    )
    try:
        config = load_config()
        managers = [config.manager(spec.key) for spec in django_specs]
    except ConfigurationError as exc:  # `manage.py check` reports it; bound template aliases raise it
        return _Runtime(templates, allow, None, exc)
    return _Runtime(templates, allow, managers[0] if managers else None)


def forget_runtime(**kwargs: Any) -> None:
    """Read the settings again on next use (connected to `setting_changed`)."""
    global _runtime
    setting = str(kwargs.get("setting", ""))
    if not kwargs or setting.startswith("TENANT_ROUTER_") or setting == "DATABASES":
        _runtime = None
        close_tenant_connections()


def template_aliases() -> frozenset[str]:
    """The DATABASES aliases that are tenant templates in the current settings."""
    return runtime().templates


def bound_database_key(alias: str) -> tuple[str, str] | None:
    """(tenant, alias) when `alias` means a tenant's database here, else None."""
    pinned = _pinned.get()
    if pinned is not None and (alias in pinned.given or alias in template_aliases()):
        return pinned.tenant, alias
    binding = current_binding()
    if binding is not None and alias in template_aliases():
        return binding.tenant, alias
    return None


# -- run-time connections, per thread ----------------------------------------------------------------
class _Pool(threading.local):
    def __init__(self) -> None:
        self.state: _Runtime | None = None
        self.connections: dict[tuple[str, str], BaseDatabaseWrapper] = {}
        # Stand-ins are per thread too: Django refuses to close a connection object from another thread.
        self.guards: dict[str, BaseDatabaseWrapper] = {}


_pool = _Pool()


def _thread_pool(state: _Runtime) -> _Pool:
    """This thread's connections and stand-ins, dropped when the settings changed since they were made."""
    if _pool.state is not state:
        close_tenant_connections()
        _pool.guards.clear()
        _pool.state = state
    return _pool


def _runtime_connection(tenant: str, alias: str) -> BaseDatabaseWrapper:
    state = runtime()
    _thread_pool(state)
    conn = _pool.connections.get((tenant, alias))
    if conn is None:
        manager = state.manager
        if state.error is not None:
            return _missing(tenant, alias, state.error.message, state.error.hint)
        conn = manager.tenant_connection(tenant, alias) if manager is not None else None
        if conn is None:  # refused on use, not here: `connections.close_all()` must still work
            known = manager is not None and tenant in manager.tenant_ids()
            return _missing(
                tenant,
                alias,
                f"Tenant {tenant!r} has no {manager.orm_key}.{alias} entry in the tenant configuration."
                if known
                else f"Tenant {tenant!r} is not in the tenant configuration.",
            )
        _pool.connections[(tenant, alias)] = conn
    return conn


def _thread_connections(alias: str) -> list[BaseDatabaseWrapper]:
    return [conn for (_, each), conn in _pool.connections.items() if each == alias]


def close_tenant_connections(**kwargs: Any) -> None:
    """Close this thread's run-time tenant connections that are unusable or past CONN_MAX_AGE
    (connected to request_started/finished, as Django does for its own); with no signal, close all."""
    bound = current_binding()
    for (tenant, _), conn in list(_pool.connections.items()):
        if not kwargs:
            conn.close()
        elif bound is None or tenant != bound.tenant:
            # The bound tenant's are `connections[alias]` now: Django's own close_old_connections handles
            # them, and Django's test client turns that off around a request so the test's transaction lives.
            conn.close_if_unusable_or_obsolete()
    if not kwargs:
        _pool.connections.clear()


# -- stand-ins that refuse to connect: a template alias with nothing bound, a tenant without the alias --
def _guard(alias: str) -> BaseDatabaseWrapper:
    guards = _thread_pool(runtime()).guards
    guard = guards.get(alias)
    if guard is None:
        guard = guards[alias] = _stand_in(alias, None, closes_thread=True)
    return guard


def _unbound_error(alias: str) -> TemplateAccessError:
    return TemplateAccessError(
        f"No tenant is bound: DATABASES[{alias!r}] is a tenant-router template, and the "
        "template database is never connected to.",
        hint="Wrap the code in `with tenant_context_bind(tenant_id):`, use a reserved alias "
        f"(RESERVED_CONN_ALIASES), or set {ALLOW_SETTING} = True to reach the template itself.",
    )


def _missing(tenant: str, alias: str, message: str, hint: str | None = None) -> BaseDatabaseWrapper:
    """The bound tenant has no database for `alias` (or is unknown): an error on use, a no-op to close."""
    hint = hint or "Check the tenant id given to tenant_context_bind() and the tenant's entries."
    return _stand_in(alias, lambda: ConfigurationError(message, hint=hint), closes_thread=False)


def _stand_in(
    alias: str, refusal: Callable[[], Exception] | None, *, closes_thread: bool
) -> BaseDatabaseWrapper:
    settings = connections.settings[alias]
    stand_in = _guard_class(load_backend(settings["ENGINE"]).DatabaseWrapper)(settings, alias)
    stand_in.refusal, stand_in.closes_thread = refusal, closes_thread
    return stand_in


_guard_classes: dict[type, type] = {}


def _guard_class(base: type) -> type:
    if base not in _guard_classes:

        def refuse(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> Any:
            raise self.refusal() if self.refusal else _unbound_error(self.alias)

        # Closing the unbound alias (`connections.close_all()`, `close_old_connections()`: Celery around each
        # task, the run before forking workers) closes what this thread has open for it, every tenant's.
        def close(self: BaseDatabaseWrapper) -> None:
            for conn in _thread_connections(self.alias) if self.closes_thread else ():
                conn.close()

        def close_if_unusable_or_obsolete(self: BaseDatabaseWrapper) -> None:
            for conn in _thread_connections(self.alias) if self.closes_thread else ():
                conn.close_if_unusable_or_obsolete()

        _guard_classes[base] = type(
            f"TemplateGuard{base.__name__}",
            (base,),
            {
                "connect": refuse,
                "get_new_connection": refuse,
                "close": close,
                "close_if_unusable_or_obsolete": close_if_unusable_or_obsolete,
                # copies Django makes of a stand-in (`copy()`, the test runner's no-database connection)
                "refusal": None,
                "closes_thread": False,
                "__module__": __name__,
            },
        )
    return _guard_classes[base]


# -- the view in front of Django's per-thread connections -------------------------------------------
class TenantConnections:
    """Stands in for `connections._connections`: template aliases resolve to the bound tenant."""

    def __init__(self, inner: Any) -> None:
        object.__setattr__(self, "_inner", inner)

    def __getattr__(self, alias: str) -> Any:
        pinned = _pinned.get()
        if pinned is not None and (alias in pinned.given or alias in template_aliases()):
            conn = pinned.get(alias)
            if conn is None:
                return _missing(
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
            return _runtime_connection(binding.tenant, alias)
        if state.allow:
            return getattr(self._inner, alias)
        return _guard(alias)

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
        setting_changed.connect(forget_runtime, dispatch_uid="tenant_router_binding")
        request_started.connect(close_tenant_connections, dispatch_uid="tenant_router_binding")
        request_finished.connect(close_tenant_connections, dispatch_uid="tenant_router_binding")
        connections._connections = TenantConnections(connections._connections)


def installed() -> bool:
    """True when template alias names are being resolved to tenants."""
    return isinstance(connections._connections, TenantConnections)


def is_template_alias(alias: str) -> bool:
    """True when `alias` is a tenant template of the current settings."""
    return alias in template_aliases()
