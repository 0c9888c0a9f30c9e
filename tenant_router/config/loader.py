"""load_config(): every TENANT_ROUTER_* setting and the tenant document, read and validated at call time.

`config/` is the only reader of tenant-router's settings and environment variables. It runs at call
time (never at import time) and validates everything before any database is touched; every problem is
one ConfigurationError naming the setting, file, tenant or key at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from ..quoting import quoted
from ..safety.redact import REDACTOR, collect_secrets
from .model import ORM_SETTINGS, RouterConfig
from .orm_settings import load_orm_specs
from .tenant_document import load_tenant_config

SERVICE_NAME = "TENANT_ROUTER_SERVICE_NAME"


def _setting(settings: Any, name: str, default: Any = None) -> Any:
    return getattr(settings, name, default)


def ensure_django() -> None:
    """Start Django for a plain script that did not: DJANGO_SETTINGS_MODULE set, apps not loaded yet."""
    import os

    from django.apps import apps
    from django.conf import settings as django_settings

    if apps.ready or apps.loading:  # set up already, or being set up right now (an AppConfig.ready())
        return
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not django_settings.configured and not module:
        raise ConfigurationError(
            "Django is not set up: DJANGO_SETTINGS_MODULE is not set and settings.configure() was not called.",
            hint="Set DJANGO_SETTINGS_MODULE=yourproject.settings before calling tenant-router, or call "
            "django.setup() first (manage.py and the tenant-router command do it for you).",
        )
    import django

    try:
        django.setup()
    except Exception as exc:
        raise ConfigurationError(
            f"Django cannot start with settings {module!r}: {type(exc).__name__}: {REDACTOR(str(exc))}",
            hint="Check DJANGO_SETTINGS_MODULE and that the project's folder is on the Python path.",
        ) from exc


def load_config(settings: Any = None) -> RouterConfig:
    """Read and validate every TENANT_ROUTER_* setting and the tenant configuration.

    Without `settings`, Django's are used, and Django is set up first when a plain script did not.
    """
    if settings is None:
        ensure_django()
        from django.conf import settings as django_settings

        settings = django_settings
    service = _setting(settings, SERVICE_NAME)
    if not isinstance(service, str) or not service.strip():
        raise ConfigurationError(
            f"{SERVICE_NAME} is " + ("not set." if service is None else f"{service!r}, not a name."),
            hint="Set it to the service key used inside each tenant's entry, e.g. 'clinic'.",
            check_id="E001",
        )
    specs = load_orm_specs(settings)
    orm_settings = {s.key: s for s in specs}
    tenant_config = load_tenant_config(settings)
    drift_scratch = load_drift_scratch(settings)
    config = RouterConfig(service, specs, tenant_config, drift_scratch, load_drift_prefix(settings))
    REDACTOR.add(collect_secrets(drift_scratch))
    REDACTOR.add(collect_secrets([dict(s.templates) for s in specs]))
    REDACTOR.add(collect_secrets(tenant_config.tenants))
    for tenant in tenant_config.tenants:
        for orm, entry in tenant_config.tenants[tenant].get(service, {}).get("orm_config", {}).items():
            if orm not in orm_settings:
                raise ConfigurationError(
                    f"Tenant configuration {tenant_config.source!r}: tenant {quoted(tenant)} configures ORM "
                    f"{orm!r}, which {ORM_SETTINGS} does not define.",
                    check_id="E008",
                )
            spec = next(s for s in specs if s.key == orm)
            for alias, db in entry.items():
                if not isinstance(db, Mapping):
                    raise ConfigurationError(
                        f"Tenant configuration {tenant_config.source!r}: tenant {quoted(tenant)}, {orm}.{alias} "
                        f"must be an object of database settings, got {type(db).__name__}.",
                        check_id="E008",
                    )
                if alias not in spec.template_aliases:
                    raise ConfigurationError(
                        f"Tenant configuration {tenant_config.source!r}: tenant {quoted(tenant)}, ORM {orm!r} "
                        f"configures alias {alias!r}, which is not a template alias of "
                        f"{spec.settings_key} ({', '.join(spec.template_aliases)}).",
                        check_id="E008",
                    )
                spec.manager_class.validate_entry(spec, tenant, alias, db)
    return config


DRIFT_SCRATCH = "TENANT_ROUTER_DRIFT_SCRATCH"
DRIFT_PREFIX = "TENANT_ROUTER_DRIFT_SCRATCH_PREFIX"


def load_drift_prefix(settings: Any) -> str:
    """TENANT_ROUTER_DRIFT_SCRATCH_PREFIX: up to 20 letters, digits and underscores ("tr_drift")."""
    value = _setting(settings, DRIFT_PREFIX, None) or "tr_drift"
    if (
        not isinstance(value, str)
        or not value.replace("_", "").isalnum()
        or not value.isascii()
        or len(value) > 20
    ):
        raise ConfigurationError(
            f"{DRIFT_PREFIX} must be up to 20 letters, digits and underscores, got {value!r:.40}."
        )
    return value


SCRATCH_KEYS = frozenset({"USER", "PASSWORD", "HOST", "PORT"})


def load_drift_scratch(settings: Any) -> dict[str, dict[str, Any]]:
    """TENANT_ROUTER_DRIFT_SCRATCH, validated: {"postgresql": {"USER": ..., "PASSWORD": ...}, ...}."""
    value = _setting(settings, DRIFT_SCRATCH, {}) or {}
    example = f"{DRIFT_SCRATCH} = {{'postgresql': {{'USER': 'tr_admin', 'PASSWORD': '...'}}}}"
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{DRIFT_SCRATCH} must be a dict per engine, like {example}.")
    found: dict[str, dict[str, Any]] = {}
    for engine, entry in value.items():
        if engine not in ("postgresql", "mysql") or not isinstance(entry, Mapping):
            raise ConfigurationError(
                f"{DRIFT_SCRATCH}[{engine!r}]: keys are 'postgresql' or 'mysql', values dicts, like {example}."
            )
        unknown = sorted(set(entry) - SCRATCH_KEYS)
        if unknown:
            raise ConfigurationError(
                f"{DRIFT_SCRATCH}[{engine!r}] has unknown key {unknown[0]!r}; it takes USER, PASSWORD, HOST, PORT."
            )
        found[engine] = dict(entry)
    return found
