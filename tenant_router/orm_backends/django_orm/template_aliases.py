"""What is a template alias in the current settings, and whose database it means here.

Read once from the settings (again after they change); see binding.py for what the answer is used for.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from ...config.environment import ALLOW_TEMPLATE_ACCESS, template_access_allowed
from ...context import current_binding
from ...errors import ConfigurationError
from .pinned import current_pinned

ALLOW_SETTING = ALLOW_TEMPLATE_ACCESS  # its name, for messages


@dataclass
class Runtime:
    """The template aliases of the current settings and the manager that opens tenants' databases."""

    templates: frozenset[str]
    allow: bool
    manager: Any  # the DjangoOrmManager of the current settings, or None
    error: ConfigurationError | None = None  # why there is no manager: bound template aliases raise it
    stamp: tuple[int, int, int] | None = None  # the tenant configuration file as read; None: not a file


_runtime: Runtime | None = None
_runtime_lock = threading.RLock()
_NOTHING = Runtime(frozenset(), True, None)  # while the settings are being read: no interception


def runtime() -> Runtime:
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


def _read_runtime() -> Runtime:
    from django.conf import settings

    from ...config.loader import load_config
    from ...config.orm_settings import load_orm_specs
    from .manager import DjangoOrmManager

    allow = template_access_allowed()
    try:
        specs = load_orm_specs(settings)
    except ConfigurationError:  # the settings themselves (`manage.py check` says): nothing is intercepted
        return Runtime(frozenset(), allow, None)
    django_specs = [s for s in specs if issubclass(s.manager_class, DjangoOrmManager)]
    templates = frozenset(a for s in django_specs for a in s.template_aliases)
    # A TENANT_ROUTER_TENANT_CONFIG callable runs next: it may query reserved aliases, never a template.
    _reading.state = Runtime(
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
        return Runtime(templates, allow, None, exc)
    return Runtime(
        templates, allow, managers[0] if managers else None, stamp=_stamp(config.tenant_config.source)
    )


def _stamp(source: str) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of the tenant configuration file; None for a callable (or a file gone)."""
    try:
        found = os.stat(source)
    except (OSError, ValueError):
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def forget_settings() -> None:
    """Read the settings again on next use."""
    global _runtime
    _runtime = None


def runtime_for_new_tenant(seen: Runtime) -> Runtime:
    """The runtime read again when `seen` does not know a bound tenant: a running process (a signup
    view) may have added it to the tenant configuration since. Read once however many threads ask, and a
    configuration file that did not change is not read again (an unknown id bound in a loop costs a stat)."""
    global _runtime
    if seen.stamp is not None and _stamp(seen.manager.config.tenant_config.source) == seen.stamp:
        return seen
    with _runtime_lock:
        if _runtime is seen:
            _runtime = None
    return runtime()


def template_aliases() -> frozenset[str]:
    """The DATABASES aliases that are tenant templates in the current settings."""
    return runtime().templates


def bound_database_key(alias: str) -> tuple[str, str] | None:
    """(tenant, alias) when `alias` means a tenant's database here, else None."""
    pinned = current_pinned()
    if pinned is not None and (alias in pinned.given or alias in template_aliases()):
        return pinned.tenant, alias
    binding = current_binding()
    if binding is not None and alias in template_aliases():
        return binding.tenant, alias
    return None
