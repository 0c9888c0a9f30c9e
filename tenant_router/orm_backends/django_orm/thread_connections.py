"""Run-time tenant connections, one per thread, tenant and alias; and stand-ins that refuse to connect
(a template alias with nothing bound, a tenant without the alias)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import OperationalError, load_backend

from ...context import current_binding
from ...errors import ConfigurationError, TenantRouterError
from .template_aliases import ALLOW_SETTING, Runtime, runtime, runtime_for_new_tenant


class TemplateAccessError(TenantRouterError, OperationalError):
    """A template alias was used with no tenant bound; the template database is never connected to."""


class _Pool(threading.local):
    def __init__(self) -> None:
        self.state: Runtime | None = None
        self.connections: dict[tuple[str, str], BaseDatabaseWrapper] = {}
        # Stand-ins are per thread too: Django refuses to close a connection object from another thread.
        self.guards: dict[str, BaseDatabaseWrapper] = {}


_pool = _Pool()


def _thread_pool(state: Runtime) -> _Pool:
    """This thread's connections and stand-ins, dropped when the settings changed since they were made."""
    if _pool.state is not state:
        close_tenant_connections()
        _pool.guards.clear()
        _pool.state = state
    return _pool


def runtime_connection(tenant: str, alias: str) -> BaseDatabaseWrapper:
    """This thread's connection to the tenant's `alias` database (a refusing stand-in when it has none)."""
    state = runtime()
    _thread_pool(state)
    conn = _pool.connections.get((tenant, alias))
    known = state.manager is None or tenant in state.manager.config.tenant_config.tenants
    if conn is None and state.error is None and not known:  # added since the configuration was read?
        state = runtime_for_new_tenant(state)
        _thread_pool(state)
    if conn is None:
        manager = state.manager
        if state.error is not None:
            return missing_database(tenant, alias, state.error.message, state.error.hint)
        conn = manager.tenant_connection(tenant, alias) if manager is not None else None
        if conn is None:  # refused on use, not here: `connections.close_all()` must still work
            known = manager is not None and tenant in manager.tenant_ids()
            return missing_database(
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
def unbound_guard(alias: str) -> BaseDatabaseWrapper:
    """This thread's stand-in for a template alias used with nothing bound."""
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


def missing_database(tenant: str, alias: str, message: str, hint: str | None = None) -> BaseDatabaseWrapper:
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
